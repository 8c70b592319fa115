"""The blob-store interface every backend implements.

Putting bytes the store already holds writes nothing but refreshes the blob's modification
time, atomically with finding it there: that time is the orphan sweep's clock
(``service.jobs.retention.sweep_orphan_blobs``). Without the refresh, an upload whose bytes
match an old orphan would find the blob present, and the sweep could delete it before the
upload's row commits; with it, the blob is young again before that row can commit.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import AbstractContextManager
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from service.errors import BlobMissing, StorageError

_KEY = re.compile(r"^sha256/[0-9a-f]{2}/[0-9a-f]{64}$")


def blob_key(sha256_hex: str) -> str:
    """The content address of bytes whose SHA-256 is ``sha256_hex``."""
    return f"sha256/{sha256_hex[:2]}/{sha256_hex}"


def check_key(key: str) -> str:
    """Keys come from our database, but a malformed one must never become a path traversal."""
    if not _KEY.match(key):
        raise StorageError(f"not a blob key: {key!r}", key=key)
    return key


def is_blob_key(name: str) -> bool:
    """Whether a listed name is a blob (not a temporary file, nor someone else's object)."""
    return _KEY.match(name) is not None


def hash_file(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """(SHA-256 hex, size) of a file, read in blocks (never whole in memory)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(chunk), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ListedBlob:
    """A blob as a listing sees it. ``modified_at`` (UTC) is when it was last written or put
    again (a put of bytes already held refreshes it)."""

    key: str
    size_bytes: int
    modified_at: datetime


class BlobStore(Protocol):
    def put_bytes(self, data: bytes) -> StoredBlob:
        """Store bytes; bytes already held are not written again, their time is refreshed."""
        ...

    def put_file(self, path: Path) -> StoredBlob:
        """Store a file's bytes (streamed, never whole in memory); the source is left in place.
        Bytes already held are not written again, their time is refreshed."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Read a blob; ``BlobMissing`` if it is not there."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove a blob (retention); deleting a missing blob is not an error."""
        ...

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """The blob as a file on this machine, for libraries that need a path (PyAV, C2PA):
        the stored file itself where there is one, else a temporary copy removed on exit.
        Read it, never write it; ``BlobMissing`` if the blob is not there."""
        ...

    def list_keys(self, older_than: datetime) -> Iterator[ListedBlob]:
        """Every blob last written or put before ``older_than`` (aware), streamed page by
        page, never gathered in memory; writes in progress are not blobs yet."""
        ...

    def delete_if_older(self, key: str, older_than: datetime) -> bool:
        """Delete ``key`` only if it was last written or put before ``older_than``, judged at
        the moment of deletion (the orphan sweep: a put since the listing keeps the blob).
        True when this call deleted it; False when it is young or already gone."""
        ...


__all__ = ["BlobMissing", "BlobStore", "ListedBlob", "StoredBlob", "blob_key", "check_key",
           "is_blob_key"]
