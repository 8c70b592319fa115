"""Helpers for the officers' access tests (query, export, personal data): events recorded
through ``service.db.audit.record``, sequenced, and a signed checkpoint over them.

``access_session`` is a rolled-back session on a database of this package's own per backend
(migrated once): checkpoints signed by other tests' keys never meet these tests' verifiers.
Import the fixtures into a test module to use them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from policy.audit import Outcome
from policy.audit.checkpoint import NoteSigner
from service.audit.checkpoints import make_checkpoint
from service.audit.personal import AuditKeyring
from service.audit.query import refresh_log
from service.db.audit import AuditContext, record
from tests.conftest import BACKENDS, migrated_engine, rolled_back_session

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KEYRING = AuditKeyring(bytes(range(32)))
ORIGIN = "likeness.test/audit"
SIGNER = NoteSigner.generate(ORIGIN)


@pytest.fixture(scope="session", params=BACKENDS)
def access_engine(request: pytest.FixtureRequest, postgres_database: Callable[[str], str],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from migrated_engine(request.param, postgres_database,
                               tmp_path_factory.mktemp("audit-access"),
                               "likeness_test_audit_access")


@pytest.fixture
def access_session(access_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test."""
    yield from rolled_back_session(access_engine)


def same_transaction(session: Session) -> sessionmaker[Session]:
    """A session factory whose sessions work inside ``session``'s (rolled-back) transaction,
    as savepoints: what an export's page-by-page transactions become in a test."""
    session.flush()
    return sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint",
                        expire_on_commit=False)


def source() -> str:
    """A fresh action source (``q3fa1c2``): a test's events are found by its prefix alone."""
    return "q" + secrets.token_hex(3)


def context(actor: str = "system:test", *, keyring: AuditKeyring | None = KEYRING,
            client_address: str | None = "203.0.113.7") -> AuditContext:
    return AuditContext(actor=actor, request_id=f"req-{secrets.token_hex(3)}",
                        client_address=client_address, keyring=keyring)


def add(session: Session, action: str, resource: str, *, minutes: float = 0,
        actor: str = "system:test", outcome: Outcome = Outcome.SUCCESS,
        payload: dict[str, Any] | None = None, keyring: AuditKeyring | None = KEYRING) -> None:
    record(session, context(actor, keyring=keyring), action, resource, outcome=outcome,
           payload=payload, now=T0 + timedelta(minutes=minutes))


def checkpoint(session: Session, signer: NoteSigner, directory: Path) -> int:
    """Sequence everything and sign a checkpoint over it; its tree size."""
    refresh_log(session)
    made = make_checkpoint(session, signer, datetime.now(UTC), directory=directory)
    return made.stored.checkpoint.size
