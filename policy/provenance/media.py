"""Check a file is a complete MP4 (ISO BMFF) before the C2PA SDK sees it.

The SDK's own errors for bad input are terse ("Box size extends beyond asset bounds") and, worse,
a PNG renamed ``.mp4`` reads as "no manifest" and a truncated signed file as ``Invalid``, which
would tell a user their file was tampered with when it was only cut short. Walking the top-level
boxes (a few seeks, no matter how large the file) separates those cases precisely:

- ``MediaUnreadable``: missing, not a regular file, permission denied, empty, truncated;
- ``MediaUnsupported``: readable but not an MP4 (text, PNG, JPEG, WAV, ...), or an MP4 without a
  movie (``moov``) and media (``mdat``) box.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from policy.errors import MediaUnreadable, MediaUnsupported

MAX_TOP_LEVEL_BOXES = 10_000

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WAV/AVI/WebP)"),
    (b"\x1a\x45\xdf\xa3", "a Matroska/WebM file"),
    (b"ID3", "an MP3 file"),
    (b"OggS", "an Ogg file"),
    (b"fLaC", "a FLAC file"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
)


@dataclass(frozen=True)
class Box:
    """One top-level ISO BMFF box: its four-character type, byte offset and total size."""

    type: str
    offset: int
    size: int


def top_level_boxes(path: Path) -> tuple[Box, ...]:
    """The file's top-level boxes in order, or a precise ``MediaUnreadable``/``MediaUnsupported``."""
    path = Path(path)
    try:
        # Stat before opening: opening a FIFO or device could block or read forever.
        if not stat.S_ISREG(path.stat().st_mode):
            raise MediaUnreadable(f"{path} is not a regular file", path=str(path),
                                  reason="not_a_file")
        with path.open("rb") as handle:
            length = os.fstat(handle.fileno()).st_size
            if length == 0:
                raise MediaUnreadable(f"{path} is empty", path=str(path), reason="empty")
            boxes = _walk(handle, length, path)
    except FileNotFoundError:
        raise MediaUnreadable(f"{path} does not exist", path=str(path), reason="missing") from None
    except PermissionError:
        raise MediaUnreadable(f"{path} cannot be read (permission denied)", path=str(path),
                              reason="permission") from None
    except OSError as exc:
        raise MediaUnreadable(f"{path} cannot be read: {exc.strerror or exc}", path=str(path),
                              reason="io_error") from None
    types = {box.type for box in boxes}
    missing = [name for name in ("moov", "mdat") if name not in types]
    if missing:
        raise MediaUnsupported(
            f"{path} is an ISO BMFF file without {' or '.join(missing)}: not a playable MP4",
            path=str(path), reason="no_movie", boxes=[box.type for box in boxes],
        )
    return boxes


def _walk(handle: BinaryIO, length: int, path: Path) -> tuple[Box, ...]:
    boxes: list[Box] = []
    offset = 0
    while offset < length:
        if len(boxes) >= MAX_TOP_LEVEL_BOXES:
            raise MediaUnsupported(f"{path} has more than {MAX_TOP_LEVEL_BOXES} top-level boxes",
                                   path=str(path), reason="too_many_boxes")
        handle.seek(offset)
        header = handle.read(16)
        if len(header) < 8:
            _raise_truncated(path, "a box header", offset, 8, len(header))
        size, kind = struct.unpack(">I4s", header[:8])
        if not boxes and kind != b"ftyp":
            raise MediaUnsupported(f"{path} is not an MP4: it looks like {_describe(header)}",
                                   path=str(path), reason="not_mp4")
        if size == 1:  # 64-bit size follows the type
            if len(header) < 16:
                _raise_truncated(path, "a box header", offset, 16, len(header))
            size = struct.unpack(">Q", header[8:16])[0]
        elif size == 0:  # "to the end of the file", allowed for the last box only
            size = length - offset
        name = kind.decode("latin-1")
        if size < 8:
            raise MediaUnsupported(f"{path} is corrupt: box {name!r} at byte {offset} declares "
                                   f"size {size}", path=str(path), reason="corrupt")
        if offset + size > length:
            _raise_truncated(path, f"box {name!r}", offset, size, length - offset)
        boxes.append(Box(type=name, offset=offset, size=size))
        offset += size
    return tuple(boxes)


def _raise_truncated(path: Path, what: str, offset: int, declared: int, available: int) -> None:
    raise MediaUnreadable(
        f"{path} is truncated: {what} at byte {offset} needs {declared} bytes, "
        f"only {available} remain",
        path=str(path), reason="truncated", offset=offset, declared=declared,
        available=available,
    )


def _describe(header: bytes) -> str:
    for magic, description in _MAGIC:
        if header.startswith(magic):
            return description
    if header[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "an MP4/QuickTime file without an ftyp box"
    if all(32 <= byte < 127 or byte in (9, 10, 13) for byte in header):
        return "text"
    return "an unknown binary format"
