"""The blob-store interface every backend implements."""

from __future__ import annotations

import hashlib
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
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


class BlobStore(Protocol):
    def put_bytes(self, data: bytes) -> StoredBlob: ...

    def put_file(self, path: Path) -> StoredBlob:
        """Store a file's bytes (streamed, never whole in memory); the source is left in place."""
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


__all__ = ["BlobMissing", "BlobStore", "StoredBlob", "blob_key", "check_key"]
