from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.errors import ImageUnreadable
from service.media import load_image

REPO = Path(__file__).resolve().parents[3]


def _encode(array: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pattern(h: int = 40, w: int = 60) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4 % 256, y * 6 % 256, (x + y) * 3 % 256], axis=-1).astype(np.uint8)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds no pixel data at all."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _reason(data: bytes | Path, **kw: int) -> str:
    with pytest.raises(ImageUnreadable) as err:
        load_image(data, **kw)
    assert err.value.code == "image_unreadable"
    return err.value.context["reason"]


# --- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, kw", [("PNG", {}), ("WEBP", {"lossless": True})])
def test_lossless_formats_round_trip(fmt: str, kw: dict) -> None:
    image = _pattern()
    out = load_image(_encode(image, fmt, **kw))
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, image)


def test_jpeg_decodes_close_to_the_original() -> None:
    image = _pattern()
    out = load_image(_encode(image, "JPEG", quality=95))
    assert out.shape == image.shape
    assert np.abs(out.astype(int) - image).mean() < 6


def test_path_with_a_misleading_extension_is_sniffed(tmp_path: Path) -> None:
    image = _pattern()
    path = tmp_path / "photo.jpg"  # really a PNG
    path.write_bytes(_encode(image, "PNG"))
    np.testing.assert_array_equal(load_image(path), image)


def test_exif_orientation_is_applied() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = (255, 0, 0)  # left half red, right half blue as stored
    image[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was rotated: display rotated 90 degrees clockwise
    out = load_image(_encode(image, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 200 and out[35, 10, 2] > 200  # stored left half is now on top


def test_grey_transparent_and_16_bit_become_rgb() -> None:
    grey = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    out = load_image(_encode(grey, "PNG"))
    assert out.shape == (4, 6, 3)
    np.testing.assert_array_equal(out[..., 1], grey)

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2] = (10, 20, 30, 255)  # opaque top, fully transparent bottom
    out = load_image(_encode(rgba, "PNG"))
    np.testing.assert_array_equal(out[0, 0], (10, 20, 30))
    np.testing.assert_array_equal(out[3, 3], (255, 255, 255))

    deep = (np.arange(24, dtype=np.uint16).reshape(4, 6) * 2000).astype(np.uint16)
    out = load_image(_encode(deep, "PNG"))
    np.testing.assert_array_equal(out[..., 0], np.round(deep / 257.0).astype(np.uint8))


def test_sample_portrait_loads() -> None:
    out = load_image(REPO / "assets" / "samples" / "portrait.png")
    assert out.shape == (400, 400, 3)


# --- rejected --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, detected", [("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tiff")])
def test_other_formats_are_refused_by_content(tmp_path: Path, fmt: str, detected: str) -> None:
    path = tmp_path / "portrait.jpg"
    path.write_bytes(_encode(_pattern(), fmt))
    with pytest.raises(ImageUnreadable) as err:
        load_image(path)
    assert err.value.context == {"reason": "unsupported_format", "detected": detected}
    assert fmt in str(err.value)


def test_text_renamed_to_jpeg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "portrait.jpeg"
    path.write_text("<html>not a picture</html>")
    assert _reason(path) == "unsupported_format"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_corrupt(fmt: str) -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # incompressible: long payload
    data = _encode(noisy, fmt)
    assert _reason(data[: len(data) // 2]) == "corrupt"


def test_garbage_after_a_valid_signature_is_corrupt() -> None:
    assert _reason(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64) == "corrupt"
    assert _reason(b"\xff\xd8\xff" + bytes(range(256))) == "corrupt"


def test_bomb_is_rejected_from_the_header_alone() -> None:
    # 8000 x 8000 = 64 MP claimed, no pixel data: decoding would fail as "corrupt", so
    # "too_many_pixels" proves the size was checked before any decoding.
    with pytest.raises(ImageUnreadable) as err:
        load_image(_png_header_only(8000, 8000))
    assert err.value.context["reason"] == "too_many_pixels"
    assert err.value.context["width"] == 8000 and err.value.context["maximum"] == 40_000_000
    assert _reason(_png_header_only(200, 200), max_pixels=30_000) == "too_many_pixels"


def test_pillow_bomb_guard_becomes_our_error() -> None:
    # Beyond twice Pillow's own limit (~179 MP) Pillow refuses while reading the header.
    assert _reason(_png_header_only(100_000, 100_000), max_pixels=10**12) == "too_many_pixels"


def test_jpeg_bomb_header() -> None:
    data = bytearray(_encode(_pattern(8, 8), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    assert _reason(bytes(data)) == "too_many_pixels"


def test_size_and_emptiness_limits(tmp_path: Path) -> None:
    data = _encode(_pattern(), "PNG")
    assert _reason(data, max_bytes=len(data) - 1) == "too_many_bytes"
    path = tmp_path / "big.png"
    path.write_bytes(data)
    assert _reason(path, max_bytes=100) == "too_many_bytes"
    assert _reason(b"") == "empty"
    assert _reason(tmp_path / "missing.png") == "not_found"


def test_str_is_not_a_path() -> None:
    with pytest.raises(TypeError):
        load_image("photo.png")  # type: ignore[arg-type]
