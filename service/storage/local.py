"""Content-addressed blobs on the local filesystem (the embedded default and single-host
deployments). Writes go to a temporary file in the same directory, are fsynced, then renamed:
a crash never leaves a half-written blob under a real key."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from service.errors import BlobMissing
from service.storage.base import StoredBlob, blob_key, check_key, hash_file

_CHUNK = 1 << 20


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put_bytes(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        key = blob_key(digest)
        if not self.exists(key):
            self._write(key, [data])
        return StoredBlob(key, digest, len(data))

    def put_file(self, path: Path) -> StoredBlob:
        sha256, size = hash_file(path)
        key = blob_key(sha256)
        if not self.exists(key):
            with open(path, "rb") as source:
                self._write(key, iter(lambda: source.read(_CHUNK), b""))
        return StoredBlob(key, sha256, size)

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path_for(key), "rb")
        except FileNotFoundError:
            raise BlobMissing(f"blob {key} is not in the store", key=key) from None

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The blob's own file: nothing to copy on a local store (do not modify it)."""
        path = self.path_for(key)
        if not path.is_file():
            raise BlobMissing(f"blob {key} is not in the store", key=key)
        yield path

    def path_for(self, key: str) -> Path:
        """The file behind ``key`` (local only: lets a worker hand a path to PyAV/C2PA)."""
        return self.root / check_key(key)

    def _write(self, key: str, blocks) -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                for block in blocks:
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
