"""Building and tampering with a real audit log in a test's (rolled-back) session.

``log_session`` is a rolled-back session on a database of its own per backend (migrated once),
so checkpoints other tests commit (signed by other keys) never meet this module's verifier.
``Log`` writes events through ``record``, sequences them and signs checkpoints into a temporary
export directory with a test key. ``without_triggers`` is what someone holding the tables'
owner or a superuser can do: PostgreSQL stops firing triggers for the transaction
(``session_replication_role = replica``); SQLite's triggers are dropped (inside the
transaction, so the test's rollback restores them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from policy.audit.checkpoint import NoteSigner
from service.audit.checkpoints import MadeCheckpoint, make_checkpoint
from service.audit.sequencer import sequence_pending
from service.audit.verify import AuditLogReport, verify_audit_log
from service.db.audit import AuditContext, record
from service.db.models.audit import AuditChainHead
from tests.conftest import BACKENDS, migrated_engine, rolled_back_session

ORIGIN = "test.local/audit"
SIGNER = NoteSigner.generate(ORIGIN)
CONTEXT = AuditContext(actor="system:test", request_id="req-log")
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session", params=BACKENDS)
def log_engine(request: pytest.FixtureRequest, postgres_database: Callable[[str], str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from migrated_engine(request.param, postgres_database,
                               tmp_path_factory.mktemp("audit-log"), "likeness_test_audit_log")


@pytest.fixture
def log_session(log_engine: Engine) -> Iterator[Session]:
    yield from rolled_back_session(log_engine)


@dataclass(frozen=True)
class HeadState:
    seq: int
    hash: str
    tree_size: int
    frontier: bytes | None


@dataclass
class Log:
    session: Session
    directory: Path
    clock: datetime = T0
    written: int = 0

    def append(self, n: int) -> list[int]:
        """Record ``n`` events and sequence them; their sequence numbers."""
        for _ in range(n):
            self.written += 1
            record(self.session, CONTEXT, "test:thing:touch", f"thing:{self.written}",
                   payload={"n": self.written, "note": "ordinary"}, now=self.tick())
        sequence_pending(self.session, batch=7)
        head = self.head()
        return list(range(head.seq - n + 1, head.seq + 1))

    def checkpoint(self) -> MadeCheckpoint:
        return make_checkpoint(self.session, SIGNER, self.tick(), directory=self.directory)

    def verify(self) -> AuditLogReport:
        return verify_audit_log(self.session, SIGNER.verifier, self.directory)

    def head(self) -> HeadState:
        row = self.session.execute(select(AuditChainHead.__table__)).one()
        return HeadState(row.seq, row.hash, row.tree_size,
                         None if row.frontier is None else bytes(row.frontier))

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=61)
        return self.clock


def without_triggers(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
        return
    names = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                 "AND name LIKE 'audit_%'")).scalars().all()
    for name in names:
        session.execute(text(f'DROP TRIGGER "{name}"'))


def restore_head(session: Session, state: HeadState) -> None:
    """Put the head row back to an earlier state (triggers must be off)."""
    session.execute(text("UPDATE audit_chain_head SET seq = :seq, hash = :hash, "
                         "tree_size = :tree_size, frontier = :frontier"),
                    {"seq": state.seq, "hash": state.hash, "tree_size": state.tree_size,
                     "frontier": state.frontier})
