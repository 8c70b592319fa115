"""Content-addressed local blobs: same bytes stored once, atomic writes, no path tricks."""

from __future__ import annotations

import hashlib

import pytest

from service.errors import BlobMissing, StorageError
from service.storage import LocalBlobStore, blob_key


def test_put_bytes_is_content_addressed_and_deduplicated(tmp_path):
    store = LocalBlobStore(tmp_path)
    first = store.put_bytes(b"portrait bytes")
    second = store.put_bytes(b"portrait bytes")
    assert first == second
    assert first.key == blob_key(hashlib.sha256(b"portrait bytes").hexdigest())
    with store.open(first.key) as handle:
        assert handle.read() == b"portrait bytes"
    assert [p.name for p in store.path_for(first.key).parent.iterdir()] == [first.sha256]


def test_put_file_streams_and_leaves_the_source(tmp_path):
    source = tmp_path / "video.mp4"
    source.write_bytes(b"x" * (3 << 20))
    store = LocalBlobStore(tmp_path / "blobs")
    blob = store.put_file(source)
    assert blob.size_bytes == 3 << 20 and source.exists()
    assert store.path_for(blob.key).read_bytes() == source.read_bytes()


def test_missing_and_malformed_keys(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobMissing):
        store.open(blob_key("0" * 64))
    with pytest.raises(StorageError):
        store.path_for("../../etc/passwd")
    store.delete(blob_key("0" * 64))  # deleting what is gone is fine (retention is idempotent)
