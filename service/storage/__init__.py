"""Where uploaded media and released videos live: content-addressed blobs behind a small
interface, so a multi-machine deployment swaps the local filesystem for an S3-compatible store.

Keys are ``sha256/<2 hex>/<64 hex>``: the same bytes are stored once, a key says what its bytes
must hash to, and a reader can check that nothing changed underneath it. ``make_blob_store``
picks the backend from the settings (``blob_backend``); the S3 backend is imported only when
chosen, so the embedded default never loads boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.storage.base import BlobStore, ListedBlob, StoredBlob, blob_key
from service.storage.local import LocalBlobStore

if TYPE_CHECKING:
    from service.settings import Settings


def make_blob_store(settings: Settings) -> BlobStore:
    """The configured blob store: the local directory ``blob_root``, or an S3 bucket."""
    if settings.blob_backend == "s3":
        from service.storage.s3 import S3BlobStore

        assert settings.s3_bucket  # the settings validator requires one for this backend
        return S3BlobStore(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                           region=settings.s3_region, prefix=settings.s3_prefix)
    return LocalBlobStore(settings.blob_root)


__all__ = ["BlobStore", "ListedBlob", "LocalBlobStore", "StoredBlob", "blob_key",
           "make_blob_store"]
