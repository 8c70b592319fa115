"""Blob-store fixtures: a moto S3 server for the session, and a ``store`` fixture that runs
the shared behaviour tests once per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.storage import LocalBlobStore
from service.storage.s3 import S3BlobStore
from tests.service.storage.s3_server import MotoServer, running_moto_server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with running_moto_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """A fresh, empty store of each backend (an S3 store gets a bucket of its own)."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    server: MotoServer = request.getfixturevalue("moto_server")
    return S3BlobStore(server.new_bucket(), client=server.client(), part_bytes=5 << 20)
