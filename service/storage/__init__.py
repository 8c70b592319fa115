"""Where uploaded media and released videos live: content-addressed blobs behind a small
interface, so a multi-machine deployment swaps the local filesystem for an S3-compatible store.

Keys are ``sha256/<2 hex>/<64 hex>``: the same bytes are stored once, a key says what its bytes
must hash to, and a reader can check that nothing changed underneath it.
"""

from service.storage.base import BlobStore, StoredBlob, blob_key
from service.storage.local import LocalBlobStore

__all__ = ["BlobStore", "LocalBlobStore", "StoredBlob", "blob_key"]
