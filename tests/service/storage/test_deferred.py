"""Blobs marked for deletion go only when the transaction commits."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from service.errors import StorageError
from service.storage import LocalBlobStore
from service.storage.deferred import delete_after_commit


@pytest.fixture
def session() -> Session:
    with Session(create_engine("sqlite://")) as session:
        yield session


def test_bytes_stay_until_commit_then_go(session: Session, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = store.put_bytes(b"released video").key
    session.execute(text("SELECT 1"))
    delete_after_commit(session, store, key)
    assert store.exists(key)
    session.commit()
    assert not store.exists(key)


def test_a_rolled_back_transaction_deletes_nothing_later(session: Session,
                                                         tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = store.put_bytes(b"kept").key
    session.execute(text("SELECT 1"))
    delete_after_commit(session, store, key)
    session.rollback()
    session.execute(text("SELECT 1"))
    session.commit()  # a later transaction must not carry the forgotten deletion
    assert store.exists(key)


class _FailingStore(LocalBlobStore):
    def delete(self, key: str) -> None:
        raise StorageError("bucket unreachable", key=key)


def test_a_store_failure_after_commit_is_logged_not_raised(session: Session, tmp_path: Path,
                                                           caplog) -> None:
    store = _FailingStore(tmp_path)
    key = store.put_bytes(b"orphan").key
    session.execute(text("SELECT 1"))
    delete_after_commit(session, store, key)
    with caplog.at_level(logging.ERROR, logger="likeness.storage"):
        session.commit()
    assert store.exists(key) and key in caplog.text
