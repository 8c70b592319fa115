"""The SQL audit log's write side: ``record`` writes the inbox in the caller's transaction, the
sequencer links it onto the chain, events survive the database round trip, concurrent writers
never fork the chain, and the database refuses to rewrite history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from policy.audit import AuditEvent, BreakReason, ChainedEvent, Outcome
from service.audit.sequencer import sequence_pending
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
from service.db.models import AuditPendingRow
from service.errors import DatabaseNotReady

CONTEXT = AuditContext(actor="system:test", request_id="req-1", client_address="203.0.113.7")
PAYLOAD = {"float": 0.1, "big": 2**70, "tiny": 1e-300, "text": "naïve ✓ 名前",
           "nested": {"b": [1, None, True], "a": -0.0}}
T0 = datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC)


def _append(session: Session, n: int) -> None:
    record(session, CONTEXT, "test:thing:touch", f"thing:{n}", payload={"n": n})


def _pending(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditPendingRow))


def test_record_writes_the_inbox_and_the_sequencer_links_it(db_session: Session) -> None:
    sequence_pending(db_session)
    store = SqlAuditStore()
    before = store.head(db_session)
    first = record(db_session, CONTEXT, "org:organisation:vet", "organisation:1",
                   outcome=Outcome.DENIED, payload=PAYLOAD, now=T0)
    second = record(db_session, AuditContext(actor="user:1"), "test:thing:touch", "thing:2")
    assert second.pending_id > first.pending_id
    assert store.head(db_session) == before and _pending(db_session) == 2  # not chained yet
    assert sequence_pending(db_session) == 2
    assert _pending(db_session) == 0
    db_session.expire_all()
    stored = list(store.events(db_session, after_seq=before.seq))
    expected_first = ChainedEvent.after(before, first.event)
    assert stored == [expected_first, ChainedEvent.after(expected_first.head, second.event)]
    assert stored[0].event.payload == PAYLOAD  # same canonical payload after the round trip
    assert stored[0].event.client_address == "203.0.113.7"
    assert stored[1].event.client_address is None
    assert store.head(db_session) == stored[-1].head
    assert verify_audit_chain(db_session).ok


def test_events_page_through_a_long_chain(db_session: Session,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.db.audit._EVENTS_PAGE", 3)
    sequence_pending(db_session)
    start = SqlAuditStore().head(db_session)
    for n in range(8):
        _append(db_session, n)
    assert sequence_pending(db_session, batch=3) == 8  # three sequencer batches
    stored = list(SqlAuditStore().events(db_session, after_seq=start.seq,
                                         through_seq=start.seq + 7))
    assert [e.seq for e in stored] == list(range(start.seq + 1, start.seq + 8))
    assert [e.event.resource for e in stored] == [f"thing:{n}" for n in range(7)]
    assert verify_audit_chain(db_session).ok


def test_a_rolled_back_change_leaves_no_event(db_session: Session) -> None:
    sequence_pending(db_session)
    head = SqlAuditStore().head(db_session)
    with pytest.raises(RuntimeError), db_session.begin_nested():
        _append(db_session, 1)
        raise RuntimeError("the state change failed")
    assert _pending(db_session) == 0
    assert sequence_pending(db_session) == 0
    assert SqlAuditStore().head(db_session) == head


def _refused(session: Session, statement: str, message: str) -> None:
    with pytest.raises(DBAPIError, match=message), session.begin_nested():
        session.execute(text(statement))


def test_the_database_refuses_to_rewrite_history(db_session: Session) -> None:
    _append(db_session, 1)
    sequence_pending(db_session)
    _append(db_session, 2)  # one left waiting in the inbox
    _refused(db_session, "UPDATE audit_events SET actor = 'someone else'", "append-only")
    _refused(db_session, "DELETE FROM audit_events", "append-only")
    _refused(db_session, "UPDATE audit_tree_nodes SET hash = hash", "append-only")
    _refused(db_session, "DELETE FROM audit_tree_nodes", "append-only")
    _refused(db_session, "UPDATE audit_pending SET actor = 'someone else'", "never changed")
    _refused(db_session, "UPDATE audit_chain_head SET seq = seq - 1", "only moves forward")
    _refused(db_session, "UPDATE audit_chain_head SET hash = 'x'", "only moves forward")
    _refused(db_session, "UPDATE audit_chain_head SET tree_size = seq + 1", "only moves forward")
    _refused(db_session, "DELETE FROM audit_chain_head", "audit_chain_head")
    if db_session.get_bind().dialect.name == "postgresql":
        for table in ("audit_events", "audit_tree_nodes", "audit_chain_head"):
            _refused(db_session, f"TRUNCATE {table}", "append-only")
        _refused(db_session, "TRUNCATE audit_pending", "never changed")
    assert verify_audit_chain(db_session).ok
    assert sequence_pending(db_session) == 1  # the inbox still sequences


def _without_triggers(session: Session) -> None:
    """What an attacker with the owner's rights could do; rolled back with the test."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for name in ("audit_events_no_update", "audit_events_no_delete",
                     "audit_chain_head_forward"):
            session.execute(text(f"DROP TRIGGER {name}"))


def test_tampering_behind_the_triggers_breaks_the_chain(db_session: Session) -> None:
    for n in range(3):
        _append(db_session, n)
    sequence_pending(db_session)
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
    sequence_pending(db_session)
    head = SqlAuditStore().head(db_session)
    _without_triggers(db_session)
    db_session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": head.seq})
    report = verify_audit_chain(db_session)
    assert report.broken is not None and report.broken.reason == BreakReason.HEAD_MISMATCH


def test_concurrent_writers_and_sequencers_never_fork_the_chain(db_engine: Engine) -> None:
    # Writers in their own committed transactions while two sequencers run beside them.
    factory = make_session_factory(db_engine)
    threads_n, appends_n = 4, 8
    barrier = threading.Barrier(threads_n + 2)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(index: int) -> None:
        try:
            barrier.wait()
            for n in range(appends_n):
                with session_scope(factory) as session:
                    _append(session, index * 100 + n)
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    def sequencer() -> None:
        try:
            barrier.wait()
            while not done.is_set():
                sequence_pending(factory, batch=5, wait=False)
        except BaseException as exc:
            errors.append(exc)

    sequence_pending(db_engine)
    with session_scope(factory) as session:
        start = SqlAuditStore().head(session)
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(threads_n)]
    sequencers = [threading.Thread(target=sequencer) for _ in range(2)]
    for thread in (*writers, *sequencers):
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    done.set()
    for thread in sequencers:
        thread.join(timeout=60)
    assert errors == []
    sequence_pending(db_engine)
    with session_scope(factory) as session:
        report = verify_audit_chain(session)
        added = list(SqlAuditStore().events(session, after_seq=start.seq))
    assert report.ok, report.broken
    assert sorted(e.event.resource for e in added) == sorted(
        f"thing:{i * 100 + n}" for i in range(threads_n) for n in range(appends_n))


def test_an_unmigrated_database_is_reported(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        Base.metadata.create_all(engine)  # tables without the migration's seed row
        with session_scope(make_session_factory(engine)) as session:
            _append(session, 1)  # writing the inbox needs no head
        with pytest.raises(DatabaseNotReady):
            sequence_pending(engine)
    finally:
        engine.dispose()


def test_the_stored_event_is_the_one_recorded(db_session: Session) -> None:
    pending = record(db_session, CONTEXT, "test:thing:touch", "thing:x", payload=PAYLOAD, now=T0)
    assert pending.event == AuditEvent.of(actor=CONTEXT.actor, action="test:thing:touch",
                                          resource="thing:x", occurred_at=T0,
                                          request_id="req-1", payload=PAYLOAD,
                                          client_address="203.0.113.7")
