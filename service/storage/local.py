"""Content-addressed blobs on the local filesystem (the embedded default and single-host
deployments). Writes go to a temporary file in the same directory, are fsynced, then renamed:
a crash never leaves a half-written blob under a real key.

The orphan sweep's clock is the file's mtime. A put of bytes already held sets it to now
(``os.utime``, which is also the check that the file is there: no gap between finding it and
refreshing it). ``delete_if_older`` first renames the file aside, atomically, and judges the
renamed file: a put before the rename shows in its mtime (the file is put back), a put after
it finds nothing and writes the bytes afresh. Listing skips dot-files: temporary files of
writes in progress (``.incoming-…``) and files being deleted (``.deleting-…``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from service.errors import BlobMissing
from service.storage.base import (
    ListedBlob,
    StoredBlob,
    blob_key,
    check_key,
    hash_file,
    is_blob_key,
)

_CHUNK = 1 << 20


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put_bytes(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        key = blob_key(digest)
        if not self._refresh(key):
            self._write(key, [data])
        return StoredBlob(key, digest, len(data))

    def put_file(self, path: Path) -> StoredBlob:
        sha256, size = hash_file(path)
        key = blob_key(sha256)
        if not self._refresh(key):
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

    def list_keys(self, older_than: datetime) -> Iterator[ListedBlob]:
        """Blobs whose mtime is before ``older_than``: a walk of ``sha256/<2>/``, one
        directory at a time (never the whole tree in memory)."""
        cutoff = older_than.timestamp()
        for shard in _entries(self.root / "sha256"):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in _entries(Path(shard.path)):
                key = f"sha256/{shard.name}/{entry.name}"
                # Dot-files (writes in progress, deletions) and strays are not blobs.
                if not is_blob_key(key) or key != blob_key(entry.name):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted since the directory was read
                    continue
                if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                    yield ListedBlob(key, info.st_size,
                                     datetime.fromtimestamp(info.st_mtime, UTC))

    def delete_if_older(self, key: str, older_than: datetime) -> bool:
        path = self.path_for(key)
        aside = path.with_name(f".deleting-{path.name[:16]}-{secrets.token_hex(4)}")
        try:
            os.rename(path, aside)  # from here on, a put writes the bytes afresh
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime < older_than.timestamp():
            aside.unlink()
            return True
        # Put again before the rename: still wanted. A put since has written the same bytes.
        os.replace(aside, path)
        return False

    def path_for(self, key: str) -> Path:
        """The file behind ``key`` (local only: lets a worker hand a path to PyAV/C2PA)."""
        return self.root / check_key(key)

    def _refresh(self, key: str) -> bool:
        """Set the blob's mtime to now if it is there (a put of bytes already held)."""
        try:
            os.utime(self.path_for(key))
        except FileNotFoundError:
            return False
        return True

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


def _entries(directory: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            yield from entries
    except FileNotFoundError:  # an empty store has no tree yet
        return
