"""The S3 backend's own behaviour, against a real S3-compatible server (moto, on loopback):
prefixes, multipart uploads, integrity of local copies, error mapping, and the settings."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from service.errors import BlobMissing, StorageError
from service.settings import Settings
from service.storage import LocalBlobStore, blob_key, make_blob_store
from service.storage.s3 import S3BlobStore
from tests.service.storage.s3_server import REGION, free_port


def test_objects_live_under_the_prefix(moto_server):
    bucket, client = moto_server.new_bucket(), moto_server.client()
    store = S3BlobStore(bucket, client=client, prefix="/tenant-a/")
    blob = store.put_bytes(b"prefixed")
    listed = [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [f"tenant-a/{blob.key}"]
    assert not S3BlobStore(bucket, client=client).exists(blob.key)


def test_large_files_go_up_in_parts(moto_server, tmp_path):
    bucket, client = moto_server.new_bucket(), moto_server.client()
    source = tmp_path / "video.mp4"
    source.write_bytes(b"\x17" * ((5 << 20) + 1234))
    blob = S3BlobStore(bucket, client=client, part_bytes=5 << 20).put_file(source)
    etag = client.head_object(Bucket=bucket, Key=blob.key)["ETag"]
    assert etag.strip('"').endswith("-2")  # S3 marks a multipart object's ETag with its parts


def test_local_copy_refuses_bytes_that_do_not_match_the_key(moto_server):
    bucket, client = moto_server.new_bucket(), moto_server.client()
    key = blob_key(hashlib.sha256(b"original").hexdigest())
    client.put_object(Bucket=bucket, Key=key, Body=b"tampered")
    with pytest.raises(StorageError, match="does not hash"), \
            S3BlobStore(bucket, client=client).local_copy(key):
        pass


def test_failures_are_storage_errors_not_missing_blobs(moto_server):
    store = S3BlobStore("no-such-bucket", client=moto_server.client())
    with pytest.raises(StorageError, match="NoSuchBucket") as raised:
        store.open(blob_key("1" * 64))
    assert not isinstance(raised.value, BlobMissing)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.put_bytes(b"nowhere to go")


def test_an_unreachable_endpoint_is_a_clear_storage_error(moto_server):
    dead = type(moto_server)(f"http://127.0.0.1:{free_port()}")
    store = S3BlobStore("bucket", client=dead.client(attempts=1))
    with pytest.raises(StorageError, match="S3 head of s3://bucket/sha256/"):
        store.exists(blob_key("2" * 64))


def test_settings_pick_the_backend(moto_server, tmp_path, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    assert isinstance(make_blob_store(Settings(data_dir=tmp_path)), LocalBlobStore)
    bucket = moto_server.new_bucket()
    settings = Settings(data_dir=tmp_path, blob_backend="s3", s3_bucket=bucket,
                        s3_endpoint_url=moto_server.endpoint_url, s3_region=REGION,
                        s3_prefix="deploy")
    store = make_blob_store(settings)
    blob = store.put_bytes(b"through the factory")
    assert moto_server.client().get_object(
        Bucket=bucket, Key=f"deploy/{blob.key}")["Body"].read() == b"through the factory"
    with pytest.raises(ValueError, match="s3_bucket"):
        Settings(data_dir=tmp_path, blob_backend="s3")


def test_a_listing_pages_through_the_prefix_and_skips_other_objects(moto_server, monkeypatch):
    bucket, client = moto_server.new_bucket(), moto_server.client()
    store = S3BlobStore(bucket, client=client, prefix="tenant-a")
    blobs = {store.put_bytes(f"blob {n}".encode()).key for n in range(5)}
    other = S3BlobStore(bucket, client=client, prefix="tenant-a/nested").put_bytes(b"other")
    client.put_object(Bucket=bucket, Key="tenant-a/sha256/notes.txt", Body=b"not a blob")
    client.put_object(Bucket=bucket, Key=other.key, Body=b"no prefix: another deployment")
    monkeypatch.setattr("service.storage.s3._LIST_PAGE", 2)
    requests = []
    client.meta.events.register("before-call.s3.ListObjectsV2",
                                lambda **_kwargs: requests.append(1))
    listed = list(store.list_keys(datetime.now(UTC) + timedelta(hours=1)))
    assert {item.key for item in listed} == blobs and len(listed) == 5
    assert len(requests) >= 3  # five keys, two a page
    assert list(store.list_keys(datetime.now(UTC) - timedelta(hours=1))) == []


def test_a_listing_that_fails_is_a_storage_error(moto_server):
    store = S3BlobStore("no-such-bucket", client=moto_server.client())
    with pytest.raises(StorageError, match="S3 list of s3://no-such-bucket/sha256/"):
        list(store.list_keys(datetime.now(UTC)))
