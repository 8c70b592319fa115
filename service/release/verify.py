"""Verification: what a file says about itself (C2PA) and what its pixels say (watermark).

The two checks are independent on purpose: a manifest is stripped by any re-encode, the
watermark survives it; a manifest can be copied onto other pixels, the watermark cannot. The
verdict combines them into one line a person understands, and ``to_json`` gives the stable,
documented schema (``docs/verify.md``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy.errors import MediaUnreadable, MediaUnsupported
from policy.provenance import ManifestReport, read_manifest
from policy.watermark import WatermarkDetection, WatermarkDetector, WatermarkKey
from service.media.video import VideoInfo, VideoReader

SCHEMA = "likeness.verify/1"
# Pooling more frames only adds confidence; 10 s is plenty and keeps a check under a second.
DEFAULT_MAX_FRAMES = 250

# Verdict codes, from best to worst news for the file's integrity.
SIGNED_INTACT = "signed_intact"          # our manifest verifies and the watermark agrees
SIGNED_UNTRUSTED = "signed_untrusted"    # manifest verifies but its signer is not trusted here
MANIFEST_INVALID = "manifest_invalid"    # a manifest is present but the file changed after signing
WATERMARK_ONLY = "watermark_only"        # no manifest (stripped / re-encoded) but the mark is there
MARK_MISMATCH = "mark_mismatch"          # manifest and watermark name different assets
MANIFEST_ONLY = "manifest_only"          # a manifest but no watermark (or no key to look for it)
NO_MARK = "no_mark"                      # neither


@dataclass(frozen=True)
class FileFacts:
    path: str
    bytes: int
    sha256: str
    video: VideoInfo
    frames_checked: int
    truncated: bool


@dataclass(frozen=True)
class VerificationReport:
    file: FileFacts
    manifest: ManifestReport
    manifest_note: str | None            # e.g. the container is not one C2PA reads
    watermark: WatermarkDetection | None  # None: no watermark key available to this verifier
    watermark_key_id: str | None
    verdict_code: str
    verdict: str

    @property
    def asset_id(self) -> str | None:
        if self.watermark is not None and self.watermark.payload is not None:
            return self.watermark.payload.asset_hex
        return self.manifest.asset_id

    def to_json(self) -> dict[str, Any]:
        """The stable ``likeness.verify/1`` document (see docs/verify.md)."""
        manifest, mark = self.manifest, self.watermark
        return {
            "schema": SCHEMA,
            "verdict": {"code": self.verdict_code, "text": self.verdict, "asset_id": self.asset_id},
            "file": {
                "path": self.file.path, "bytes": self.file.bytes, "sha256": self.file.sha256,
                "width": self.file.video.width, "height": self.file.video.height,
                "fps": round(self.file.video.fps, 3),
                "duration_s": round(self.file.video.duration_s, 3),
                "codec": self.file.video.codec, "truncated": self.file.truncated,
            },
            "c2pa": {
                "state": manifest.state, "note": self.manifest_note,
                "signer": manifest.signer, "issuer": manifest.issuer,
                "signed_at": manifest.signed_at, "ai_generated": manifest.ai_generated,
                "asset_id": manifest.asset_id, "software_agent": manifest.software_agent,
                "weights_sha256": manifest.weights_sha256, "detail": manifest.detail,
                "soft_binding": None if manifest.soft_binding is None else {
                    "alg": manifest.soft_binding.alg, "value_hex": manifest.soft_binding.value.hex()},
                "assertions": list(manifest.assertions), "failures": list(manifest.failures),
                "transcript": None if manifest.transcript is None else {
                    "sha256": manifest.transcript.sha256,
                    "language": manifest.transcript.language},
            },
            "watermark": {
                "checked": mark is not None, "key_id": self.watermark_key_id,
                "found": bool(mark and mark.found),
                "asset_id": mark.payload.asset_hex if mark and mark.payload else None,
                "version": mark.payload.version if mark and mark.payload else None,
                "confidence": round(mark.confidence, 6) if mark else None,
                "false_positive_probability": mark.false_positive_probability if mark else None,
                "frames_used": mark.frames_used if mark else 0,
            },
        }


def verify_video(
    path: Path,
    key: WatermarkKey | None,
    trust_anchors_pem: bytes | None,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> VerificationReport:
    """Check one file. Raises ``VideoUnreadable`` for anything that is not a decodable video."""
    with VideoReader(path) as reader:
        detector = WatermarkDetector(key) if key is not None else None
        frames = 0
        for frame in reader.frames(limit=max_frames):
            frames += 1
            if detector is not None:
                detector.add_frame(frame)
        facts = FileFacts(str(path), path.stat().st_size, _sha256(path), reader.info, frames,
                          reader.truncated)
    detection = detector.result() if detector is not None else None
    manifest, note = _manifest(path, trust_anchors_pem)
    code, text = verdict(manifest, detection)
    return VerificationReport(facts, manifest, note, detection,
                              key.key_id if key is not None else None, code, text)


def _manifest(path: Path, anchors: bytes | None) -> tuple[ManifestReport, str | None]:
    try:
        return read_manifest(path, anchors), None
    except (MediaUnsupported, MediaUnreadable) as exc:
        # A re-encoded copy may come in a container C2PA does not cover (MKV, WebM, AVI), or cut
        # short: the frames still decoded, so the watermark is the evidence and this is a note.
        return ManifestReport.absent(), exc.message


def verdict(manifest: ManifestReport, mark: WatermarkDetection | None) -> tuple[str, str]:
    """(code, one line for people) from the two checks."""
    found = mark is not None and mark.found and mark.payload is not None
    mark_asset = mark.payload.asset_hex if found else None
    if manifest.state is not None and found and manifest.asset_id not in (None, mark_asset):
        return MARK_MISMATCH, (f"manifest names asset {manifest.asset_id} but the watermark says "
                               f"asset {mark_asset} — the manifest was moved onto other pixels")
    if manifest.state == "Trusted" and found:
        return SIGNED_INTACT, (f"generated by this service (AI-generated), asset {mark_asset}, "
                               f"signature intact, signed by {manifest.signer}")
    if manifest.state == "Valid" and found:
        return SIGNED_UNTRUSTED, (f"AI-generated, asset {mark_asset}, signature intact but the "
                                  f"signer {manifest.signer} is not a trusted root here")
    if manifest.state == "Invalid":
        failures = ", ".join(manifest.failures[:3]) or "validation failed"
        tail = f"; watermark says asset {mark_asset}" if found else ""
        return MANIFEST_INVALID, f"file altered after signing ({failures}){tail}"
    if found:
        return WATERMARK_ONLY, (f"watermark found, manifest missing — re-encoded or stripped copy "
                                f"of asset {mark_asset} (AI-generated by this service)")
    if manifest.state is not None:
        reason = "no watermark key to check it" if mark is None else "no watermark found"
        return MANIFEST_ONLY, (f"signed manifest ({manifest.state}) for asset {manifest.asset_id}, "
                               f"but {reason}")
    if mark is None:
        return NO_MARK, "no manifest found; watermark not checked (no watermark key configured)"
    return NO_MARK, "no mark found: no manifest and no watermark of this service"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
