"""Read and verify the C2PA manifest of an MP4 into a ``ManifestReport``.

States, as the SDK reports them:

- ``Trusted``: signature and hashes valid, and the signer chains to a trust anchor (the
  operator's root, passed as ``trust_anchors_pem``);
- ``Valid``: signature and hashes valid, signer unknown (``signingCredential.untrusted``);
- ``Invalid``: a hash or signature check failed (e.g. ``assertion.bmffHash.mismatch`` after 16
  bytes of media changed), or the manifest itself cannot be decoded (``claim.malformed``);
- ``None``: no manifest at all (unsigned, or re-encoded/remuxed, which drops it).

Settings are built per call in a fresh SDK ``Context`` (trust anchors included), so reading one
file with an anchor never makes the next read trusted. Reading never touches the network: OCSP
and remote-manifest fetching are off, so a hostile file cannot make the verifier call a URL.
Our soft-binding algorithm id needs no registration in c2pa-python 0.38.1 (reads back with no
failure or informational code; a test keeps checking that).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from c2pa import C2paError, Context, Reader
from cryptography import x509

from policy.errors import ClaimInvalid, MediaUnreadable, TrustAnchorsInvalid
from policy.provenance.claim import (
    ACTIONS_LABELS, ASSET_LABEL, INGREDIENT_ID_PREFIX, MEDIA_FORMAT, SOFT_BINDING_LABEL,
    TRAINED_ALGORITHMIC_MEDIA, TRAINING_MINING_LABEL, TRANSCRIPT_LABEL, IngredientRecord,
    SoftBinding, TranscriptRecord,
)
from policy.provenance.identity import C2PA_TRUST_CONFIG
from policy.provenance.media import top_level_boxes

State = Literal["Trusted", "Valid", "Invalid"]
_STATES: tuple[State, ...] = ("Trusted", "Valid", "Invalid")


@dataclass(frozen=True)
class ManifestReport:
    """What a verifier shows about one file's C2PA manifest (all None/empty without one)."""

    state: State | None  # None: no manifest in the file
    signer: str | None  # signing certificate's common name
    issuer: str | None  # signing certificate's organisation, as the SDK reports it
    signed_at: str | None  # ISO time, only with a trusted timestamp (TSA)
    ai_generated: bool  # first action c2pa.created with trainedAlgorithmicMedia
    asset_id: str | None
    soft_binding: SoftBinding | None
    software_agent: str | None  # "name/version" of the created action's agent
    assertions: tuple[str, ...]  # assertion labels of the active manifest
    failures: tuple[str, ...]  # validation failure codes, e.g. "assertion.bmffHash.mismatch"
    weights_sha256: str | None = None
    ingredients: tuple[IngredientRecord, ...] = ()
    training_mining: tuple[tuple[str, str], ...] = ()  # (CAWG use, "notAllowed"/...)
    detail: str | None = None  # the SDK's explanation of the first failure
    transcript: TranscriptRecord | None = None  # the declared transcript's hash and language
    manifest_id: str | None = None  # the active manifest's label ("urn:c2pa:<uuid>")

    @classmethod
    def absent(cls) -> ManifestReport:
        return cls(state=None, signer=None, issuer=None, signed_at=None, ai_generated=False,
                   asset_id=None, soft_binding=None, software_agent=None, assertions=(),
                   failures=())


def read_manifest(path: Path, trust_anchors_pem: bytes | None = None) -> ManifestReport:
    """Verify ``path``'s manifest; anchors (PEM roots) decide ``Trusted`` versus ``Valid``."""
    path = Path(path)
    top_level_boxes(path)  # MediaUnreadable / MediaUnsupported with a precise reason
    settings = _reading_settings(trust_anchors_pem)
    try:
        with Context.from_dict(settings) as context, path.open("rb") as media:
            reader = Reader.try_create(MEDIA_FORMAT, media, context=context)
            if reader is None:
                return ManifestReport.absent()
            with reader:
                state = reader.get_validation_state()
                store = json.loads(reader.json())
    except OSError as exc:
        raise MediaUnreadable(f"{path} cannot be read: {exc.strerror or exc}", path=str(path),
                              reason="io_error") from None
    except C2paError as exc:
        # A manifest is there but cannot be decoded: as untrustworthy as a failed hash.
        return replace(ManifestReport.absent(), state="Invalid", failures=("claim.malformed",),
                       detail=str(exc))
    return _report(state, store)


def _reading_settings(trust_anchors_pem: bytes | None) -> dict[str, Any]:
    trust: dict[str, str] = {"trust_config": C2PA_TRUST_CONFIG}
    if trust_anchors_pem is not None:
        try:
            anchors = x509.load_pem_x509_certificates(trust_anchors_pem)
        except ValueError as exc:
            raise TrustAnchorsInvalid(f"trust anchors are not PEM certificates: {exc}") from None
        if not anchors:
            raise TrustAnchorsInvalid("trust anchors hold no certificate")
        trust["user_anchors"] = trust_anchors_pem.decode("ascii")
    return {
        "trust": trust,
        "verify": {"verify_trust": True, "ocsp_fetch": False, "remote_manifest_fetch": False},
    }


def _report(state: str | None, store: dict[str, Any]) -> ManifestReport:
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    assertions = {item.get("label"): item.get("data", {})
                  for item in manifest.get("assertions", []) if isinstance(item, dict)}
    signature = manifest.get("signature_info", {})
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = [item for item in results.get("failure", []) if isinstance(item, dict)]
    first_action = _first_action(assertions)
    agent = first_action.get("softwareAgent")
    asset = assertions.get(ASSET_LABEL, {})
    model = asset.get("model", {}) if isinstance(asset.get("model"), dict) else {}
    return ManifestReport(
        state=state if state in _STATES else "Invalid",
        signer=signature.get("common_name"),
        issuer=signature.get("issuer"),
        signed_at=signature.get("time"),
        ai_generated=(first_action.get("action") == "c2pa.created"
                      and first_action.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA),
        asset_id=asset.get("asset_id") if isinstance(asset.get("asset_id"), str) else None,
        soft_binding=_soft_binding(assertions.get(SOFT_BINDING_LABEL)),
        software_agent=_agent_name(agent),
        weights_sha256=(agent.get("weights_sha256") if isinstance(agent, dict)
                        else model.get("weights_sha256")),
        assertions=tuple(label for label in assertions if isinstance(label, str)),
        failures=tuple(str(item.get("code")) for item in failures),
        ingredients=_ingredients(manifest.get("ingredients", [])),
        training_mining=_training_mining(assertions.get(TRAINING_MINING_LABEL)),
        detail=_detail(failures),
        transcript=_transcript(assertions.get(TRANSCRIPT_LABEL)),
        manifest_id=active if isinstance(active := store.get("active_manifest"), str) else None,
    )


def _transcript(data: Any) -> TranscriptRecord | None:
    """Our transcript assertion; None if absent or not ours in shape."""
    if not isinstance(data, dict) or data.get("alg") != "sha256":
        return None
    try:
        return TranscriptRecord(sha256=str(data.get("hash")),
                                language=str(data.get("language")))
    except ClaimInvalid:
        return None


def _detail(failures: list[dict[str, Any]]) -> str | None:
    """The explanation of the most telling failure: an untrusted signer matters least."""
    ranked = sorted(failures, key=lambda item: item.get("code") == "signingCredential.untrusted")
    return str(ranked[0].get("explanation")) if ranked else None


def _first_action(assertions: dict[Any, Any]) -> dict[str, Any]:
    for label in ACTIONS_LABELS:
        actions = assertions.get(label, {}).get("actions")
        if isinstance(actions, list) and actions and isinstance(actions[0], dict):
            return actions[0]
    return {}


def _agent_name(agent: Any) -> str | None:
    if isinstance(agent, str):
        return agent
    if isinstance(agent, dict) and isinstance(agent.get("name"), str):
        version = agent.get("version")
        return f"{agent['name']}/{version}" if version else agent["name"]
    return None


def _soft_binding(data: Any) -> SoftBinding | None:
    """Our soft binding (first block's value); None if absent or not ours in shape."""
    if not isinstance(data, dict) or not data.get("blocks"):
        return None
    try:
        value = base64.b64decode(data["blocks"][0]["value"], validate=True)
        return SoftBinding(alg=str(data["alg"]), value=value)
    except (KeyError, IndexError, TypeError, binascii.Error, ClaimInvalid):
        return None


def _ingredients(items: list[Any]) -> tuple[IngredientRecord, ...]:
    records = []
    for item in items:
        instance = str(item.get("instance_id", "")) if isinstance(item, dict) else ""
        if not instance.startswith(INGREDIENT_ID_PREFIX):
            continue  # not recorded by us: no hash to report
        try:
            records.append(IngredientRecord(title=str(item.get("title", "")),
                                            media_type=str(item.get("format", "")),
                                            sha256=instance[len(INGREDIENT_ID_PREFIX):]))
        except ClaimInvalid:
            continue
    return tuple(records)


def _training_mining(data: Any) -> tuple[tuple[str, str], ...]:
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return ()
    return tuple(sorted((str(use), str(entry.get("use"))) for use, entry in entries.items()
                        if isinstance(entry, dict)))
