"""Stored bytes sent as a download: one way for every route that hands out a blob.

The body streams from the blob store in 64 KiB blocks and closes the blob when done (or when
the client goes away). Every download is an attachment with ``nosniff``: stored media came from
partners or reporters, and a browser must never render it as a page of this origin.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import BinaryIO

from fastapi.responses import StreamingResponse

_BLOCK = 1 << 16


def blob_download(blob: BinaryIO, media_type: str, *, filename: str | None = None,
                  headers: Mapping[str, str] | None = None) -> StreamingResponse:
    """``blob`` (opened from the store) as an attachment; ``headers`` adds to the defaults."""
    disposition = "attachment" if filename is None else f'attachment; filename="{filename}"'
    return StreamingResponse(_blocks(blob), media_type=media_type,
                             headers={"X-Content-Type-Options": "nosniff",
                                      "Content-Disposition": disposition, **(headers or {})})


def _blocks(blob: BinaryIO) -> Iterator[bytes]:
    with blob:
        yield from iter(lambda: blob.read(_BLOCK), b"")
