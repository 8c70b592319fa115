"""Content-addressed blobs in an S3-compatible bucket (multi-machine deployments: the API and
every GPU worker see the same store).

Keys are the same ``sha256/<2>/<64>`` addresses as on the local filesystem, under an optional
prefix so one bucket can hold several deployments. An object is written once: bytes the
bucket already has are not uploaded again, and since a key names its content, a concurrent
writer of the same key writes the same bytes. Finding them there is a server-side copy of the
object onto itself, which also sets its LastModified to now (S3 has no "touch"): the orphan
sweep's clock (``service.storage.base``). That copy is one request of up to 5 GB, far above
the largest upload or video the service accepts; on a versioned bucket it leaves a noncurrent
version (expire those with a lifecycle rule). ``put_file`` hashes the file first
(the key must be known before the upload starts), then streams it through boto3's managed
transfer, which switches to a multipart upload above ``part_bytes``. Reads stream the object
body; ``local_copy`` downloads to a temporary file for libraries that need a path (PyAV, C2PA)
and checks the bytes against the key's hash on the way.

``list_keys`` pages through ``ListObjectsV2`` under ``<prefix>sha256/`` (1,000 keys a
request), judging age by LastModified. S3 has no delete conditional on LastModified, so
``delete_if_older`` reads it (HEAD) and then deletes: a put of the same bytes landing in that
one round trip, between an orphan's check and its deletion, is the residual race, and only
for bytes that were orphaned for the whole grace period and are uploaded again at that moment.

botocore reports a missing object as a 404/``NoSuchKey`` client error: that becomes
``BlobMissing``; every other failure (denied, no such bucket, unreachable endpoint, missing
credentials) becomes a ``StorageError`` naming the bucket, the key and the operation.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.errors import BlobMissing, StorageError
from service.storage.base import (
    ListedBlob,
    StoredBlob,
    blob_key,
    check_key,
    hash_file,
    is_blob_key,
)

_CHUNK = 1 << 20
# S3's smallest allowed part (every part but the last must be at least 5 MiB).
_MIN_PART = 5 << 20
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
# Keys a listing request returns (S3's maximum).
_LIST_PAGE = 1000


class S3BlobStore:
    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str | None = None, prefix: str = "", client: Any = None,
                 part_bytes: int = 8 << 20) -> None:
        if not bucket:
            raise StorageError("an S3 blob store needs a bucket name", bucket=bucket)
        if part_bytes < _MIN_PART:
            raise StorageError(f"part_bytes must be at least {_MIN_PART} (S3's minimum part)",
                               part_bytes=part_bytes)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client if client is not None else _make_client(endpoint_url, region)
        self._transfer = TransferConfig(multipart_threshold=part_bytes,
                                        multipart_chunksize=part_bytes)

    def put_bytes(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        key = blob_key(digest)
        if not self._refresh(key):
            with self._errors("put", key):
                self._client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)
        return StoredBlob(key, digest, len(data))

    def put_file(self, path: Path) -> StoredBlob:
        sha256, size = hash_file(path)
        key = blob_key(sha256)
        if not self._refresh(key):
            with self._errors("upload", key):
                self._client.upload_file(str(path), self.bucket, self._object(key),
                                         Config=self._transfer)
        return StoredBlob(key, sha256, size)

    def open(self, key: str) -> BinaryIO:
        with self._errors("get", key):
            response = self._client.get_object(Bucket=self.bucket, Key=self._object(key))
        return response["Body"]  # botocore's StreamingBody: read(n), close, a context manager

    def exists(self, key: str) -> bool:
        try:
            with self._errors("head", key):
                self._client.head_object(Bucket=self.bucket, Key=self._object(key))
        except BlobMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there: deleting twice is already harmless.
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=self._object(key))

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The blob as a temporary file (removed on exit), its bytes checked against the key."""
        handle, name = tempfile.mkstemp(prefix="likeness-blob-")
        path = Path(name)
        try:
            with os.fdopen(handle, "wb") as out, self.open(key) as body:
                _copy_checked(key, iter(lambda: body.read(_CHUNK), b""), out)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def list_keys(self, older_than: datetime) -> Iterator[ListedBlob]:
        pages = iter(self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}sha256/",
            PaginationConfig={"PageSize": _LIST_PAGE}))
        while True:
            with self._errors("list", "sha256/"):
                page = next(pages, None)
            if page is None:
                return
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix):]
                if is_blob_key(key) and item["LastModified"] < older_than:
                    yield ListedBlob(key, item["Size"], item["LastModified"])

    def delete_if_older(self, key: str, older_than: datetime) -> bool:
        try:
            with self._errors("head", key):
                head = self._client.head_object(Bucket=self.bucket, Key=self._object(key))
        except BlobMissing:
            return False
        if head["LastModified"] >= older_than:  # put again since it was listed
            return False
        self.delete(key)
        return True

    def _refresh(self, key: str) -> bool:
        """Copy the object onto itself, setting its LastModified to now; False when it is not
        there (a put of bytes already held, see the module docstring)."""
        source = {"Bucket": self.bucket, "Key": self._object(key)}
        try:
            with self._errors("refresh", key):
                self._client.copy_object(Bucket=self.bucket, Key=self._object(key),
                                         CopySource=source, MetadataDirective="REPLACE")
        except BlobMissing:
            return False
        return True

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextmanager
    def _errors(self, operation: str, key: str) -> Iterator[None]:
        where = f"s3://{self.bucket}/{self.prefix}{key}"
        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise BlobMissing(f"blob {key} is not in the store", key=key) from None
            message = error.response.get("Error", {}).get("Message") or code
            raise StorageError(f"S3 {operation} of {where} failed: {code}: {message}",
                               key=key, bucket=self.bucket, operation=operation,
                               s3_code=code) from error
        except BotoCoreError as error:  # unreachable endpoint, no credentials, bad config
            raise StorageError(f"S3 {operation} of {where} failed: {error}", key=key,
                               bucket=self.bucket, operation=operation) from error


def _make_client(endpoint_url: str | None, region: str | None) -> Any:
    # Path-style addressing: S3-compatible servers (MinIO, Ceph, moto) on a bare host or IP
    # have no per-bucket DNS names.
    config = Config(retries={"mode": "standard", "max_attempts": 5},
                    s3={"addressing_style": "path" if endpoint_url else "auto"})
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region,
                                          config=config)


def _copy_checked(key: str, blocks: Iterable[bytes], out: io.BufferedWriter) -> None:
    digest = hashlib.sha256()
    for block in blocks:
        digest.update(block)
        out.write(block)
    if blob_key(digest.hexdigest()) != key:
        raise StorageError(f"blob {key} does not hash to its key (changed in the bucket?)",
                           key=key)
