"""What every blob store promises, run against each backend (local files, S3 on moto)."""

from __future__ import annotations

import hashlib

import pytest

from service.errors import BlobMissing, StorageError
from service.storage import blob_key


def test_put_bytes_is_content_addressed_and_deduplicated(store):
    first = store.put_bytes(b"portrait bytes")
    second = store.put_bytes(b"portrait bytes")
    assert first == second
    assert first.key == blob_key(hashlib.sha256(b"portrait bytes").hexdigest())
    assert first.size_bytes == len(b"portrait bytes") and store.exists(first.key)
    with store.open(first.key) as handle:
        assert handle.read() == b"portrait bytes"
    other = store.put_bytes(b"other bytes")
    assert other.key != first.key


def test_put_file_streams_several_megabytes_and_leaves_the_source(store, tmp_path):
    source = tmp_path / "video.mp4"
    data = bytes(range(256)) * (6 << 12)  # 6 MiB: above the 5 MiB part size (two S3 parts)
    source.write_bytes(data)
    blob = store.put_file(source)
    assert blob.size_bytes == len(data) and source.exists()
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    with store.open(blob.key) as handle:
        assert handle.read() == data
    assert store.put_file(source) == blob


def test_missing_and_malformed_keys(store):
    missing = blob_key("0" * 64)
    assert not store.exists(missing)
    with pytest.raises(BlobMissing):
        store.open(missing)
    with pytest.raises(BlobMissing), store.local_copy(missing):
        pass
    for bad in ("../../etc/passwd", "sha256/00/" + "0" * 63, "sha256/ab/" + "A" * 64):
        for use in (store.open, store.exists, store.delete):
            with pytest.raises(StorageError):
                use(bad)


def test_delete_is_idempotent(store):
    blob = store.put_bytes(b"retained for 30 days")
    store.delete(blob.key)
    assert not store.exists(blob.key)
    store.delete(blob.key)  # retention may run twice
    with pytest.raises(BlobMissing):
        store.open(blob.key)


def test_local_copy_is_a_readable_file_with_the_blob_bytes(store):
    blob = store.put_bytes(b"speech wav bytes")
    with store.local_copy(blob.key) as path:
        assert path.is_file() and path.read_bytes() == b"speech wav bytes"
    assert store.exists(blob.key)  # the stored blob outlives the copy
