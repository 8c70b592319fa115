"""Reading: trust states, tampering, stripped copies and every kind of bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import pytest
from PIL import Image

from policy.errors import MediaUnreadable, MediaUnsupported, TrustAnchorsInvalid
from policy.provenance import read_manifest, top_level_boxes
from service.pki import create_development_pki


def test_without_the_root_the_file_is_valid_but_untrusted(signed_mp4: Path) -> None:
    report = read_manifest(signed_mp4)
    assert report.state == "Valid"
    assert report.failures == ("signingCredential.untrusted",)
    assert report.ai_generated and report.asset_id == "0123456789abcd"


def test_trust_settings_do_not_leak_between_reads(signed_mp4: Path, root_pem: bytes) -> None:
    states = [read_manifest(signed_mp4, anchors).state
              for anchors in (root_pem, None, root_pem, None)]
    assert states == ["Trusted", "Valid", "Trusted", "Valid"]


def test_sixteen_changed_media_bytes_read_invalid(tmp_path: Path, signed_mp4: Path,
                                                  root_pem: bytes) -> None:
    mdat = next(box for box in top_level_boxes(signed_mp4) if box.type == "mdat")
    data = bytearray(signed_mp4.read_bytes())
    middle = mdat.offset + mdat.size // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    report = read_manifest(tampered, trust_anchors_pem=root_pem)
    assert report.state == "Invalid"
    assert "assertion.bmffHash.mismatch" in report.failures
    assert report.detail is not None and "hash" in report.detail.lower()


def test_damaged_manifest_reads_invalid_not_a_crash(tmp_path: Path, signed_mp4: Path,
                                                    root_pem: bytes) -> None:
    uuid = next(box for box in top_level_boxes(signed_mp4) if box.type == "uuid")
    data = bytearray(signed_mp4.read_bytes())
    start = uuid.offset + 200  # inside the JUMBF manifest store's structure
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    report = read_manifest(damaged, trust_anchors_pem=root_pem)
    assert report.state == "Invalid" and report.failures


def test_reencoded_copy_has_no_manifest(tmp_path: Path, signed_mp4: Path) -> None:
    copy = tmp_path / "reencoded.mp4"
    with av.open(str(signed_mp4)) as source, av.open(str(copy), "w") as target:
        stream = target.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for frame in source.decode(video=0):
            target.mux(stream.encode(frame.reformat(format="yuv420p")))
        target.mux(stream.encode())
    report = read_manifest(copy)
    assert report.state is None and report.failures == () and not report.ai_generated


def test_remuxed_copy_has_no_manifest(tmp_path: Path, signed_mp4: Path) -> None:
    copy = tmp_path / "remuxed.mp4"
    with av.open(str(signed_mp4)) as source, av.open(str(copy), "w") as target:
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                target.mux(packet)
    assert read_manifest(copy).state is None


def test_unsigned_video_has_no_manifest(source_mp4: Path) -> None:
    assert read_manifest(source_mp4).state is None


def test_truncated_file_is_reported_as_truncated(tmp_path: Path, signed_mp4: Path) -> None:
    data = signed_mp4.read_bytes()
    for cut in (len(data) - 100, 3000, 20):
        truncated = tmp_path / f"cut-{cut}.mp4"
        truncated.write_bytes(data[:cut])
        with pytest.raises(MediaUnreadable, match="truncated") as caught:
            read_manifest(truncated)
        assert caught.value.context["reason"] == "truncated"


@pytest.mark.parametrize(("content", "looks_like"), [
    (b"hello, I am a text file\n" * 4, "text"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "RIFF"),
    (bytes(range(256)), "unknown binary"),
])
def test_non_video_is_unsupported(tmp_path: Path, content: bytes, looks_like: str) -> None:
    path = tmp_path / "file.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaUnsupported, match=looks_like) as caught:
        read_manifest(path)
    assert caught.value.code == "media_unsupported"


def test_png_renamed_mp4_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "portrait.mp4"
    Image.new("RGB", (8, 8)).save(path, format="PNG")
    with pytest.raises(MediaUnsupported, match="PNG image"):
        read_manifest(path)


def test_bmff_without_a_movie_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "brand-only.mp4"
    path.write_bytes(b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00")
    with pytest.raises(MediaUnsupported, match="without moov or mdat"):
        read_manifest(path)


@pytest.mark.parametrize("kind", ["empty", "missing", "directory"])
def test_unreadable_paths_get_a_reason(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "video.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(MediaUnreadable) as caught:
        read_manifest(path)
    assert caught.value.context["reason"] == {"empty": "empty", "missing": "missing",
                                              "directory": "not_a_file"}[kind]


def test_malformed_trust_anchors_are_refused(signed_mp4: Path) -> None:
    with pytest.raises(TrustAnchorsInvalid):
        read_manifest(signed_mp4, trust_anchors_pem=b"-----BEGIN CERTIFICATE-----\nxx\n")
    with pytest.raises(TrustAnchorsInvalid):
        read_manifest(signed_mp4, trust_anchors_pem=b"")


def test_another_operators_root_does_not_make_it_trusted(
        tmp_path: Path, signed_mp4: Path) -> None:
    other = create_development_pki(tmp_path / "other", organisation="someone else")
    assert read_manifest(signed_mp4, other.root_cert.read_bytes()).state == "Valid"


def test_copy_of_signed_file_still_reads(tmp_path: Path, signed_mp4: Path,
                                         root_pem: bytes) -> None:
    copy = tmp_path / "copy.mp4"
    shutil.copyfile(signed_mp4, copy)
    assert read_manifest(copy, root_pem).state == "Trusted"
