"""Content-addressed local blobs: same bytes stored once, atomic writes, no path tricks."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

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


def test_a_listing_skips_writes_in_progress_and_stray_files(tmp_path):
    store = LocalBlobStore(tmp_path)
    blob = store.put_bytes(b"a real blob")
    shard = store.path_for(blob.key).parent
    (shard / ".incoming-abc123").write_bytes(b"half-written upload")
    (shard / f".deleting-{blob.sha256[:16]}-0a0b0c0d").write_bytes(b"being deleted")
    (shard / ("f" * 64)).write_bytes(b"under the wrong shard: no key names it")
    (tmp_path / "sha256" / "README").write_text("not a shard")
    (tmp_path / "elsewhere.bin").write_bytes(b"outside the tree")
    listed = store.list_keys(datetime.now(UTC) + timedelta(days=1))
    assert [item.key for item in listed] == [blob.key]


def test_old_means_the_files_mtime_and_deletion_leaves_nothing_behind(tmp_path):
    store = LocalBlobStore(tmp_path)
    old, young = store.put_bytes(b"old orphan"), store.put_bytes(b"young blob")
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(store.path_for(old.key), (two_days_ago, two_days_ago))
    cutoff = datetime.now(UTC) - timedelta(days=1)
    assert [item.key for item in store.list_keys(cutoff)] == [old.key]
    assert not store.delete_if_older(young.key, cutoff)  # renamed aside, judged, put back
    assert store.delete_if_older(old.key, cutoff)
    assert sorted(p.name for p in (tmp_path / "sha256").rglob("*") if p.is_file()) == [
        young.sha256]
