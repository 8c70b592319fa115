"""What every blob store promises, run against each backend (local files, S3 on moto)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

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


# -- what the orphan sweep relies on (service.jobs.retention.sweep_orphan_blobs) ----------------


def test_a_listing_shows_the_blobs_older_than_its_cutoff(store):
    blob = store.put_bytes(b"listed bytes")
    now = datetime.now(UTC)
    assert list(store.list_keys(now - timedelta(hours=1))) == []  # just written: young
    [listed] = store.list_keys(now + timedelta(hours=1))
    assert (listed.key, listed.size_bytes) == (blob.key, len(b"listed bytes"))
    assert abs(listed.modified_at - now) < timedelta(minutes=1)


def test_delete_if_older_keeps_a_young_blob_and_deletes_an_old_one_once(store):
    blob = store.put_bytes(b"judged at the moment of deletion")
    now = datetime.now(UTC)
    assert store.delete_if_older(blob.key, now - timedelta(hours=1)) is False
    with store.open(blob.key) as handle:
        assert handle.read() == b"judged at the moment of deletion"
    assert store.delete_if_older(blob.key, now + timedelta(hours=1)) is True
    assert not store.exists(blob.key)
    assert store.delete_if_older(blob.key, now + timedelta(hours=1)) is False  # already gone


def test_putting_bytes_the_store_holds_makes_the_blob_young_again(store, tmp_path):
    """An upload whose bytes match an old orphan writes nothing, but must not leave the blob
    looking old: a sweep that listed it before the upload would delete it under the upload's
    row. Putting it again (as bytes or as a file) refreshes it; the listing and the deletion
    both see that."""
    source = tmp_path / "again.bin"
    source.write_bytes(b"uploaded again as a file")
    kept_bytes, kept_file, orphan = (store.put_bytes(data) for data in (
        b"uploaded again as bytes", source.read_bytes(), b"never uploaded again"))
    listed = list(store.list_keys(datetime.now(UTC) + timedelta(hours=1)))
    assert {blob.key for blob in listed} == {kept_bytes.key, kept_file.key, orphan.key}
    time.sleep(1.1)  # S3 dates objects to the second
    cutoff = max(blob.modified_at for blob in listed) + timedelta(seconds=1)

    assert store.put_bytes(b"uploaded again as bytes") == kept_bytes
    assert store.put_file(source) == kept_file
    assert [blob.key for blob in store.list_keys(cutoff)] == [orphan.key]
    assert store.delete_if_older(kept_bytes.key, cutoff) is False
    assert store.delete_if_older(kept_file.key, cutoff) is False
    assert store.delete_if_older(orphan.key, cutoff) is True
    for blob, data in ((kept_bytes, b"uploaded again as bytes"),
                       (kept_file, b"uploaded again as a file")):
        with store.open(blob.key) as handle:
            assert handle.read() == data
    assert not store.exists(orphan.key)


def test_an_empty_store_lists_nothing(store):
    assert list(store.list_keys(datetime.now(UTC) + timedelta(days=1))) == []
