"""Sign an MP4: embed a C2PA manifest for ``ProvenanceClaim``, signed by ``SigningIdentity``.

Signing must be the last step: any remux afterwards breaks the BMFF hash. The signed copy goes
to a temporary file beside the destination and is renamed into place, so a failure (bad input,
refused certificate, KMS down, disk full) never leaves a partial destination.

SDK settings are per call: c2pa-python 0.38.1's ``Context`` carries them (the old thread-local
``load_settings`` is deprecated and no longer read by Builder/Reader), so nothing leaks between
calls or threads. Signing settings: no thumbnails (the subject's face must not travel inside
every file), our accepted EKUs as the trust configuration, verification after signing on, and no
network fetches (OCSP, remote manifests) — only the timestamp authority, if one is configured.

Box order: with a faststart input (``moov`` before ``mdat``) the SDK inserts its ``uuid`` box
after ``ftyp`` and keeps the order: ftyp, uuid, moov, free, mdat (measured), so signed files
still start playing before they finish downloading.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from c2pa import Builder, C2paError, C2paSignerInfo, Context, Signer

from policy.errors import SigningFailed
from policy.provenance.claim import MEDIA_FORMAT, ProvenanceClaim, manifest_definition
from policy.provenance.identity import C2PA_TRUST_CONFIG, SigningIdentity
from policy.provenance.media import top_level_boxes

SIGNING_SETTINGS: dict[str, Any] = {
    "builder": {"thumbnail": {"enabled": False}},
    "trust": {"trust_config": C2PA_TRUST_CONFIG},
    "verify": {"verify_after_sign": True, "ocsp_fetch": False, "remote_manifest_fetch": False},
}


class _CallbackBridge:
    """Wraps the operator's signing callback; keeps its exception instead of letting the SDK
    log and swallow it, so ``SigningFailed`` can say what went wrong."""

    def __init__(self, sign: Any) -> None:
        self._sign = sign
        self.error: BaseException | None = None

    def __call__(self, data: bytes) -> bytes:
        try:
            signature = self._sign(data)
            if not isinstance(signature, bytes) or not signature:
                raise TypeError(f"callback returned {type(signature).__name__}, not signature "
                                "bytes")
            return signature
        except Exception as exc:  # noqa: BLE001 - reported by sign_video
            self.error = exc
            return b""  # the SDK treats an empty signature as a failed signing


def sign_video(source: Path, destination: Path, claim: ProvenanceClaim,
               identity: SigningIdentity) -> None:
    """Write a signed copy of the MP4 ``source`` to ``destination`` (atomically)."""
    source, destination = Path(source), Path(destination)
    top_level_boxes(source)  # MediaUnreadable / MediaUnsupported before the SDK sees it
    if destination.exists() and destination.resolve() == source.resolve():
        raise SigningFailed("destination must differ from source (signing is not in place)",
                            reason="same_file", path=str(source))
    if not destination.parent.is_dir():
        raise SigningFailed(f"destination directory {destination.parent} does not exist",
                            reason="no_directory", path=str(destination))
    descriptor, temporary_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial")
    temporary = Path(temporary_name)
    bridge = _CallbackBridge(identity.sign) if identity.sign is not None else None
    try:
        with os.fdopen(descriptor, "w+b") as output, source.open("rb") as media:
            _sign_stream(media, output, claim, identity, bridge)
            output.flush()
            os.fsync(output.fileno())
        os.chmod(temporary, source.stat().st_mode & 0o777)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def _sign_stream(media: Any, output: Any, claim: ProvenanceClaim, identity: SigningIdentity,
                 bridge: _CallbackBridge | None) -> None:
    try:
        signer = _signer(identity, bridge)
        with signer, Context.from_dict(SIGNING_SETTINGS) as context, \
                Builder(manifest_definition(claim), context=context) as builder:
            builder.sign(signer, MEDIA_FORMAT, media, output)
    except C2paError as exc:
        if bridge is not None and bridge.error is not None:
            raise SigningFailed(f"the signing callback failed: {bridge.error}",
                                reason="callback") from bridge.error
        raise SigningFailed(f"the C2PA SDK refused to sign: {exc}", reason="sdk") from exc


def _signer(identity: SigningIdentity, bridge: _CallbackBridge | None) -> Signer:
    """A fresh native signer per call (cheap), so an identity is safe to share across threads."""
    if bridge is not None:
        return Signer.from_callback(bridge, identity.algorithm, identity.chain_pem.decode(),
                                    identity.tsa_url)
    # SigningIdentity guarantees a key when there is no callback.
    info = C2paSignerInfo(identity.algorithm, identity.chain_pem,
                          identity.private_key_pem or b"", identity.tsa_url)
    return Signer.from_info(info)
