"""Deleting blobs only once the transaction that stopped needing them has committed.

Retention and erasure mark rows purged and then drop the bytes. Dropping them inside the
transaction risked the worse failure: a commit that fails after the delete leaves a row that
says its bytes are held while they are gone (a download then fails). Deferred to after the
commit, the failure left is a crash between commit and delete: orphan bytes, which no row
points at and no reader serves. A rolled-back transaction deletes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from service.errors import StorageError
from service.storage.base import BlobStore

log = logging.getLogger("likeness.storage")

_PENDING = "likeness_blobs_to_delete"


def delete_after_commit(session: Session, store: BlobStore, key: str) -> None:
    """Delete ``key`` from ``store`` once ``session``'s current transaction commits."""
    pending: list[tuple[BlobStore, str]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _delete_pending)
        event.listen(session, "after_rollback", _forget_pending)
    pending.append((store, key))


def _delete_pending(session: Session) -> None:
    pending = session.info.get(_PENDING) or []
    session.info[_PENDING] = []
    for store, key in pending:
        try:
            store.delete(key)
        except StorageError as exc:  # the rows are committed: an orphan blob, not an error
            log.error("blob %s was not deleted after commit: %s", key, exc)


def _forget_pending(session: Session) -> None:
    session.info[_PENDING] = []
