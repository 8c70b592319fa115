"""The verdict a person reads, for every combination of manifest state and watermark result."""

from __future__ import annotations

import dataclasses

import pytest

from policy.provenance import ManifestReport
from policy.watermark import WatermarkDetection, WatermarkPayload
from service.release.verify import verdict

ASSET = WatermarkPayload(asset_id=0x3F2A9C0D1E4B57, version=1)
OTHER = WatermarkPayload(asset_id=0x1111, version=1)


def _manifest(state: str | None, asset: str | None = ASSET.asset_hex) -> ManifestReport:
    if state is None:
        return ManifestReport.absent()
    return dataclasses.replace(
        ManifestReport.absent(), state=state, signer="likeness development signer",
        ai_generated=True, asset_id=asset,
        failures=("assertion.bmffHash.mismatch",) if state == "Invalid" else ())


def _mark(payload: WatermarkPayload | None) -> WatermarkDetection:
    return WatermarkDetection(found=payload is not None, payload=payload,
                              confidence=1.0 if payload else 0.0,
                              false_positive_probability=1e-30 if payload else 1.0, frames_used=50)


@pytest.mark.parametrize(
    ("state", "mark", "code", "words"),
    [
        ("Trusted", ASSET, "signed_intact", "signature intact"),
        ("Valid", ASSET, "signed_untrusted", "not a trusted root"),
        ("Invalid", ASSET, "manifest_invalid", "altered after signing"),
        ("Invalid", None, "manifest_invalid", "bmffHash"),
        (None, ASSET, "watermark_only", "manifest missing"),
        ("Trusted", None, "manifest_only", "no watermark found"),
        ("Trusted", OTHER, "mark_mismatch", "other pixels"),
        (None, None, "no_mark", "no mark found"),
    ],
)
def test_verdicts(state, mark, code, words):
    got_code, text = verdict(_manifest(state), _mark(mark))
    assert got_code == code
    assert words in text


def test_verdict_names_the_asset_from_the_pixels():
    _, text = verdict(_manifest(None), _mark(ASSET))
    assert ASSET.asset_hex in text


def test_without_a_key_the_verdict_says_the_mark_was_not_checked():
    code, text = verdict(_manifest(None), None)
    assert code == "no_mark" and "not checked" in text
    code, text = verdict(_manifest("Trusted"), None)
    assert code == "manifest_only" and "no watermark key" in text
