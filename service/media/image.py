"""Safe decoding of uploaded portrait images.

Uploads are untrusted: the format is sniffed from the magic bytes (never the file name), only
JPEG, PNG and WebP are decoded, and the pixel count is read from the header *before* any pixel
data is decompressed, so a small file that expands to gigabytes (a decompression bomb) is
rejected cheaply. Every rejection is ``model.errors.ImageUnreadable`` with ``reason`` in its
context: ``empty``, ``too_many_bytes``, ``unsupported_format``, ``corrupt``,
``too_many_pixels``, ``not_found``.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from model.errors import ImageUnreadable

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

# Pillow format name of each accepted signature.
_ACCEPTED = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def sniff_format(head: bytes) -> str | None:
    """'jpeg', 'png', 'webp', a name for a known but refused format, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        return "heif/avif"
    if head.lstrip()[:5].lower() in (b"<?xml", b"<svg "):
        return "svg"
    return None


def load_image(
    data: bytes | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode an uploaded image to (H, W, 3) uint8 RGB, upright per its EXIF orientation.

    data: the file's bytes or a path to it. Transparent pixels are composited over white.
    Raises ImageUnreadable (reason in ``context``) for anything not a sound JPEG/PNG/WebP within
    ``max_bytes`` and ``max_pixels``.
    """
    raw = _read(data, max_bytes)
    fmt = sniff_format(raw[:32])
    if fmt not in _ACCEPTED:
        seen = f"a {fmt.upper()} file" if fmt else "not a recognised image"
        raise ImageUnreadable(
            f"unsupported image format: {seen}; upload a JPEG, PNG or WebP",
            reason="unsupported_format",
            detected=fmt,
        )
    with _open(raw, fmt, max_pixels) as img:
        width, height = img.size
        if width * height > max_pixels:
            raise _too_many_pixels(width, height, max_pixels)
        try:
            img.load()
            upright = ImageOps.exif_transpose(img)
            rgb = _to_rgb(upright)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageUnreadable(
                f"the {fmt.upper()} data is corrupt or truncated: {exc}",
                reason="corrupt",
                format=fmt,
            ) from exc
    return rgb


def _read(data: bytes | Path, max_bytes: int) -> bytes:
    if isinstance(data, Path):
        try:
            with data.open("rb") as fh:
                raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise ImageUnreadable(
                f"cannot read {data.name}: {exc.strerror or exc}", reason="not_found"
            ) from exc
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise TypeError(f"load_image takes bytes or a pathlib.Path, not {type(data).__name__}")
    if not raw:
        raise ImageUnreadable("the image is empty (0 bytes)", reason="empty")
    if len(raw) > max_bytes:
        raise ImageUnreadable(
            f"the image file is larger than {max_bytes} bytes",
            reason="too_many_bytes",
            maximum=max_bytes,
        )
    return raw


def _open(raw: bytes, fmt: str, max_pixels: int) -> Image.Image:
    """Open lazily (header only), restricted to the sniffed format."""
    try:
        # ``max_pixels`` is checked by the caller from the header. Pillow's own process-wide
        # guard (MAX_IMAGE_PIXELS, ~89 MP) is left as is — other code shares it — and stays the
        # backstop: it raises DecompressionBombError beyond twice its limit, which becomes our
        # error; its mere warning is silenced so that ``max_pixels`` alone decides below that.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(raw), formats=[_ACCEPTED[fmt]])
    except Image.DecompressionBombError as exc:
        raise ImageUnreadable(
            f"the image has too many pixels ({exc})",
            reason="too_many_pixels",
            maximum=max_pixels,
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageUnreadable(
            f"the {fmt.upper()} header is corrupt: {exc}", reason="corrupt", format=fmt
        ) from exc


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageUnreadable:
    return ImageUnreadable(
        f"the image is {width}x{height} = {width * height} pixels, more than the "
        f"{max_pixels} allowed",
        reason="too_many_pixels",
        width=width,
        height=height,
        maximum=max_pixels,
    )


def _to_rgb(img: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of any Pillow mode; alpha is composited over white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey PNG: Pillow's convert("L") clips instead of rescaling.
        grey = np.asarray(img, dtype=np.float64)
        grey = np.clip(np.round(grey / 257.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
