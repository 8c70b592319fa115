"""The SQL audit store: appends link in the caller's transaction, survive the database round
trip, cannot fork under concurrency, and the database refuses to rewrite history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from policy.audit import AuditEvent, BreakReason, Outcome
from service.db import (
    AuditContext,
    Base,
    SqlAuditStore,
    make_engine,
    make_session_factory,
    record,
    session_scope,
    verify_audit_chain,
)
from service.errors import DatabaseNotReady

CONTEXT = AuditContext(actor="system:test", request_id="req-1")
PAYLOAD = {"float": 0.1, "big": 2**70, "tiny": 1e-300, "text": "naïve ✓ 名前",
           "nested": {"b": [1, None, True], "a": -0.0}}


def _append(session: Session, n: int) -> None:
    record(session, CONTEXT, "test:thing:touch", f"thing:{n}", payload={"n": n})


def test_appends_link_and_survive_the_round_trip(db_session: Session) -> None:
    store = SqlAuditStore()
    before = store.head(db_session)
    event = AuditEvent.of(actor="user:1", action="org:organisation:vet", resource="organisation:1",
                          outcome=Outcome.DENIED, request_id="r", payload=PAYLOAD,
                          occurred_at=datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC))
    first = store.append(db_session, event)
    second = record(db_session, CONTEXT, "test:thing:touch", "thing:2")
    assert (first.seq, first.prev_hash) == (before.seq + 1, before.hash)
    assert (second.seq, second.prev_hash) == (first.seq + 1, first.hash)
    assert store.head(db_session) == second.head
    db_session.expire_all()
    stored = list(store.events(db_session, after_seq=before.seq))
    assert stored == [first, second]  # same event, same canonical payload, same hashes
    assert stored[0].event.payload == PAYLOAD
    report = verify_audit_chain(db_session)
    assert report.ok and report.head == second.head


def test_events_page_through_a_long_chain(db_session: Session,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.db.audit._EVENTS_PAGE", 3)
    start = SqlAuditStore().head(db_session)
    for n in range(8):
        _append(db_session, n)
    stored = list(SqlAuditStore().events(db_session, after_seq=start.seq,
                                         through_seq=start.seq + 7))
    assert [e.seq for e in stored] == list(range(start.seq + 1, start.seq + 8))
    assert verify_audit_chain(db_session).ok


def test_a_rolled_back_append_leaves_the_chain_as_it_was(db_session: Session) -> None:
    head = SqlAuditStore().head(db_session)
    with pytest.raises(RuntimeError), db_session.begin_nested():
        _append(db_session, 1)
        raise RuntimeError("the state change failed")
    assert SqlAuditStore().head(db_session) == head
    assert list(SqlAuditStore().events(db_session, after_seq=head.seq)) == []


def _refused(session: Session, statement: str, message: str) -> None:
    with pytest.raises(DBAPIError, match=message), session.begin_nested():
        session.execute(text(statement))


def test_the_database_refuses_to_rewrite_history(db_session: Session) -> None:
    _append(db_session, 1)
    _refused(db_session, "UPDATE audit_events SET actor = 'someone else'", "append-only")
    _refused(db_session, "DELETE FROM audit_events", "append-only")
    _refused(db_session, "UPDATE audit_chain_head SET seq = seq - 1", "only moves forward")
    _refused(db_session, "DELETE FROM audit_chain_head", "audit_chain_head")
    if db_session.get_bind().dialect.name == "postgresql":
        _refused(db_session, "TRUNCATE audit_events", "append-only")
        _refused(db_session, "TRUNCATE audit_chain_head", "append-only")
    assert verify_audit_chain(db_session).ok


def _without_triggers(session: Session) -> None:
    """What an attacker with DDL rights could do; rolled back with the test's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        session.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER USER"))
    else:
        for name in ("audit_events_no_update", "audit_events_no_delete",
                     "audit_chain_head_forward"):
            session.execute(text(f"DROP TRIGGER {name}"))


def test_tampering_behind_the_triggers_is_found(db_session: Session) -> None:
    for n in range(3):
        _append(db_session, n)
    head = SqlAuditStore().head(db_session)
    _without_triggers(db_session)
    db_session.execute(text("UPDATE audit_events SET payload = :p WHERE seq = :s"),
                       {"p": '{"n": 42}', "s": head.seq - 1})
    report = verify_audit_chain(db_session)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (head.seq - 1, BreakReason.HASH_MISMATCH)


def test_a_cut_off_tail_is_found(db_session: Session) -> None:
    for n in range(2):
        _append(db_session, n)
    head = SqlAuditStore().head(db_session)
    _without_triggers(db_session)
    db_session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": head.seq})
    report = verify_audit_chain(db_session)
    assert report.broken is not None and report.broken.reason == BreakReason.HEAD_MISMATCH


def test_concurrent_appends_never_fork_the_chain(db_engine: Engine) -> None:
    # Separate connections, started together, each append its own committed transaction.
    factory = make_session_factory(db_engine)
    threads_n, appends_n = 4, 8
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            for n in range(appends_n):
                with session_scope(factory) as session:
                    _append(session, index * 100 + n)
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    with session_scope(factory) as session:
        start = SqlAuditStore().head(session)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with session_scope(factory) as session:
        report = verify_audit_chain(session)
        added = list(SqlAuditStore().events(session, after_seq=start.seq))
    assert report.ok, report.broken
    assert len(added) == threads_n * appends_n
    assert {e.event.resource for e in added} == {f"thing:{i * 100 + n}" for i in range(threads_n)
                                                 for n in range(appends_n)}


def test_an_unmigrated_database_is_reported(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        Base.metadata.create_all(engine)  # tables without the migration's seed row
        with pytest.raises(DatabaseNotReady), session_scope(make_session_factory(engine)) as s:
            _append(s, 1)
    finally:
        engine.dispose()
