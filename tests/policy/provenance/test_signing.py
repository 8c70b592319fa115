"""Signing: what goes into every manifest, atomic output, box order, callback signers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from c2pa import Context, Reader
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from policy.errors import MediaUnsupported, SigningFailed
from policy.provenance import (
    TRAINED_ALGORITHMIC_MEDIA, SigningIdentity, read_manifest, sign_video, top_level_boxes,
)
from service.pki import PkiPaths
from tests.policy.provenance.conftest import ALG, PAYLOAD, decode_frames, make_claim, write_mp4


def _raw_store(path: Path) -> dict:
    """The SDK's own JSON report, to check what our report summarises."""
    with Context.from_dict({}) as context, path.open("rb") as media, \
            Reader("video/mp4", media, context=context) as reader:
        return json.loads(reader.json())


def test_signed_file_reads_trusted_with_every_required_assertion(
        signed_mp4: Path, root_pem: bytes) -> None:
    report = read_manifest(signed_mp4, trust_anchors_pem=root_pem)
    assert report.state == "Trusted"
    assert report.failures == ()
    assert report.ai_generated
    assert report.signer == "likeness development signer"
    assert report.asset_id == "0123456789abcd"
    assert report.soft_binding is not None
    assert (report.soft_binding.alg, report.soft_binding.value) == (ALG, PAYLOAD)
    assert report.software_agent == "likeness-motion-dit/0.3.0"
    assert report.weights_sha256 == "e3" * 32
    assert report.training_mining and all(use == "notAllowed"
                                          for _, use in report.training_mining)
    assert [(i.title, i.media_type, i.sha256) for i in report.ingredients] == [
        ("portrait", "image/png", "a1" * 32), ("speech", "audio/wav", "b2" * 32)]
    assert {"c2pa.soft-binding", "cawg.training-mining", "org.likeness.asset"} <= set(
        report.assertions)


def test_actions_ingredients_and_no_thumbnails_in_the_sdk_report(signed_mp4: Path) -> None:
    store = _raw_store(signed_mp4)
    manifest = store["manifests"][store["active_manifest"]]
    actions = next(a["data"]["actions"] for a in manifest["assertions"]
                   if a["label"].startswith("c2pa.actions"))
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.watermarked"]
    assert actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert actions[0]["softwareAgent"]["weights_sha256"] == "e3" * 32
    assert len(actions[0]["parameters"]["ingredients"]) == 2  # hashed links to the ingredients
    ingredients = manifest["ingredients"]
    assert [i["relationship"] for i in ingredients] == ["inputTo", "inputTo"]
    # Hash only: no thumbnail of the face or the asset, no embedded data.
    assert all("thumbnail" not in i and "data" not in i for i in ingredients)
    assert "thumbnail" not in manifest
    assert not any("thumbnail" in a["label"] for a in manifest["assertions"])


def test_signed_file_decodes_identically_and_keeps_faststart(
        source_mp4: Path, signed_mp4: Path) -> None:
    before, after = decode_frames(source_mp4), decode_frames(signed_mp4)
    assert len(after) == len(before) == 10
    assert all((a == b).all() for a, b in zip(before, after))
    order = [box.type for box in top_level_boxes(signed_mp4)]
    assert order[:3] == ["ftyp", "uuid", "moov"]  # manifest first, index still before media
    assert order.index("moov") < order.index("mdat")


def test_non_faststart_source_signs_and_keeps_its_order(
        tmp_path: Path, identity: SigningIdentity, root_pem: bytes) -> None:
    source = write_mp4(tmp_path / "plain.mp4", faststart=False)
    sign_video(source, tmp_path / "out.mp4", make_claim(), identity)
    order = [box.type for box in top_level_boxes(tmp_path / "out.mp4")]
    assert order[:2] == ["ftyp", "uuid"] and order.index("mdat") < order.index("moov")
    assert read_manifest(tmp_path / "out.mp4", root_pem).state == "Trusted"


def _callback(pki: PkiPaths, raw: bool):
    key = serialization.load_pem_private_key(pki.signing_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def sign(data: bytes) -> bytes:
        der = key.sign(data, ec.ECDSA(hashes.SHA256()))
        if not raw:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


@pytest.mark.parametrize("raw", [False, True], ids=["der", "raw-r-s"])
def test_callback_signer_reads_trusted(tmp_path: Path, pki: PkiPaths, source_mp4: Path,
                                       root_pem: bytes, raw: bool) -> None:
    identity = SigningIdentity.from_callback(pki.chain.read_bytes(), _callback(pki, raw))
    sign_video(source_mp4, tmp_path / "kms.mp4", make_claim(), identity)
    report = read_manifest(tmp_path / "kms.mp4", trust_anchors_pem=root_pem)
    assert (report.state, report.failures) == ("Trusted", ())


def test_failing_callback_leaves_no_destination(tmp_path: Path, pki: PkiPaths,
                                                source_mp4: Path) -> None:
    def unavailable(data: bytes) -> bytes:
        raise ConnectionError("KMS unreachable")

    identity = SigningIdentity.from_callback(pki.chain.read_bytes(), unavailable)
    with pytest.raises(SigningFailed, match="KMS unreachable") as caught:
        sign_video(source_mp4, tmp_path / "out.mp4", make_claim(), identity)
    assert caught.value.context["reason"] == "callback"
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary


def test_failed_signing_keeps_an_existing_destination(tmp_path: Path, pki: PkiPaths,
                                                      source_mp4: Path) -> None:
    destination = tmp_path / "out.mp4"
    destination.write_bytes(b"previous release")
    identity = SigningIdentity.from_callback(pki.chain.read_bytes(), lambda data: b"")
    with pytest.raises(SigningFailed):
        sign_video(source_mp4, destination, make_claim(), identity)
    assert destination.read_bytes() == b"previous release"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_unsupported_source_is_refused_before_signing(tmp_path: Path,
                                                      identity: SigningIdentity) -> None:
    source = tmp_path / "notes.mp4"
    source.write_text("not a video\n")
    with pytest.raises(MediaUnsupported, match="looks like text"):
        sign_video(source, tmp_path / "out.mp4", make_claim(), identity)
    assert not (tmp_path / "out.mp4").exists()


def test_signing_in_place_is_refused(signed_mp4: Path, identity: SigningIdentity) -> None:
    with pytest.raises(SigningFailed, match="differ"):
        sign_video(signed_mp4, signed_mp4, make_claim(), identity)


def test_unreachable_timestamp_authority_fails_cleanly(
        tmp_path: Path, pki: PkiPaths, source_mp4: Path) -> None:
    # Port 9 (discard) on loopback: refused at once, no network leaves the machine.
    identity = SigningIdentity.from_files(pki.chain, pki.signing_key,
                                          tsa_url="http://127.0.0.1:9/tsa")
    with pytest.raises(SigningFailed, match="refused to sign"):
        sign_video(source_mp4, tmp_path / "out.mp4", make_claim(), identity)
    assert list(tmp_path.iterdir()) == []
