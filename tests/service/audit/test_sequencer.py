"""The sequencer: inbox order, the Merkle tree it stores, a tree built for events chained before
it existed, background sequencers that skip a held lock, a poisoned inbox row, and writers in
several OS processes beside a sequencer process (PostgreSQL): no fork, no gap, nothing twice."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from policy.audit import GENESIS, AuditEvent, ChainedEvent
from policy.audit.merkle import leaf_hash, root_of
from service.audit.sequencer import lock_head, sequence_batch, sequence_pending
from service.audit.tree_store import SqlNodes, stored_root
from service.audit.verify import verify_audit_log
from service.db import AuditContext, SqlAuditStore, make_engine, make_session_factory, record
from service.db.audit import pending_values
from service.db.migrate import upgrade_database
from service.db.models.audit import AuditChainHead, AuditEventRow, AuditPendingRow
from service.errors import AuditSequencingFailed
from tests.conftest import BACKENDS, database_url
from tests.service.audit.log_support import (  # noqa: F401 (fixtures)
    SIGNER,
    T0,
    log_engine,
    log_session,
)

CONTEXT = AuditContext(actor="system:test")


def _leaves(session: Session) -> list[bytes]:
    return [leaf_hash(e.event.canonical_bytes()) for e in SqlAuditStore().events(session)]


def test_inbox_order_becomes_chain_order_and_every_perfect_node_is_stored(
        log_session: Session) -> None:
    sequence_pending(log_session)
    start = SqlAuditStore().head(log_session).seq
    for n in range(13):
        record(log_session, CONTEXT, "test:thing:touch", f"thing:{n}")
    done = sequence_batch(log_session, limit=5)
    assert done is not None and (done.chained, done.backfilled) == (5, 0)
    assert sequence_pending(log_session, batch=4) == 8
    added = list(SqlAuditStore().events(log_session, after_seq=start))
    assert [e.event.resource for e in added] == [f"thing:{n}" for n in range(13)]
    leaves = _leaves(log_session)
    size = len(leaves)
    head = lock_head(log_session)
    assert head is not None and head.tree_size == head.chain.seq == size
    assert head.frontier.root() == root_of(leaves) == stored_root(log_session, size)
    for level in range(size.bit_length()):  # every perfect node, as RFC 9162 defines it
        width = 1 << level
        for index in range(size >> level):
            expected = root_of(leaves[index * width:(index + 1) * width])
            assert SqlNodes(log_session).perfect_node(level, index) == expected


@pytest.fixture(scope="module")
def pg_engine(postgres_database: Callable[[str], str]) -> Iterator[Engine]:
    """A PostgreSQL log of this module's own (SQLite has one write lock, taken at BEGIN)."""
    engine = make_engine(postgres_database("likeness_test_audit_processes"))
    upgrade_database(engine)
    yield engine
    engine.dispose()


def test_a_background_sequencer_skips_a_held_lock(pg_engine: Engine) -> None:
    sessions = make_session_factory(pg_engine)
    with sessions() as holder, holder.begin():
        assert lock_head(holder) is not None
        with sessions() as other, other.begin():
            assert sequence_batch(other, wait=False) is None
            assert sequence_pending(sessions, wait=False) == 0
        with sessions() as other, other.begin():
            other.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                sequence_batch(other, wait=True)  # an on-demand sequencer waits for it


def test_a_malformed_inbox_row_stops_the_sequencer_with_its_id(log_session: Session) -> None:
    sequence_pending(log_session)
    event = AuditEvent.of(actor="system:test", action="test:thing:touch", resource="x",
                          occurred_at=T0)
    values = pending_values(event) | {"payload_json": '{"b": 1, "a": 2}'}  # not canonical
    bad_id = log_session.execute(insert(AuditPendingRow).values(**values)
                                 .returning(AuditPendingRow.id)).scalar_one()
    with pytest.raises(AuditSequencingFailed) as caught:
        sequence_pending(log_session)
    assert caught.value.context["pending_id"] == bad_id


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_tree_is_built_for_events_chained_before_it_existed(
        backend: str, postgres_database: Callable[[str], str], tmp_path: Path) -> None:
    engine = make_engine(database_url(backend, postgres_database, tmp_path,
                                      "likeness_test_audit_backfill"))
    try:
        upgrade_database(engine, "0005")  # the chain as it was: no inbox, no tree
        with make_session_factory(engine).begin() as session:
            _chain_the_old_way(session, 23)
        upgrade_database(engine)
        assert sequence_pending(engine, batch=10) == 0  # three transactions of tree leaves
        with make_session_factory(engine)() as session:
            head = session.execute(select(AuditChainHead)).scalar_one()
            assert (head.seq, head.tree_size) == (23, 23)
            assert stored_root(session, 23) == root_of(_leaves(session))
        with make_session_factory(engine).begin() as session:
            record(session, CONTEXT, "test:thing:touch", "after")
        assert sequence_pending(engine) == 1
        with make_session_factory(engine)() as session:
            report = verify_audit_log(session, SIGNER.verifier, None)
            assert report.ok and report.events == report.tree_size == 24, report.broken
    finally:
        engine.dispose()


def _chain_the_old_way(session: Session, n: int) -> None:
    """What revision 0005's ``record`` did: link, insert, move the head one event at a time."""
    head = GENESIS
    for i in range(n):
        event = AuditEvent.of(actor="system:old", action="test:thing:touch",
                              resource=f"old:{i}", occurred_at=T0, payload={"i": i})
        linked = ChainedEvent.after(head, event)
        session.execute(insert(AuditEventRow).values(
            seq=linked.seq, occurred_at=event.occurred_at, actor=event.actor,
            action=event.action, resource=event.resource, outcome=event.outcome,
            request_id=None, payload=event.payload, prev_hash=linked.prev_hash,
            hash=linked.hash))
        session.execute(update(AuditChainHead).values(seq=linked.seq, hash=linked.hash))
        head = linked.head


# -- several OS processes (PostgreSQL) ------------------------------------------------------------

WRITERS, EVENTS_EACH = 4, 50


def _write_events(url: str, writer: int, start: multiprocessing.Event) -> None:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    start.wait(60)
    for n in range(EVENTS_EACH):
        with sessions.begin() as session:  # one transaction per event, as a request would
            record(session, AuditContext(actor=f"system:writer:{writer}"), "test:thing:touch",
                   f"thing:{writer}:{n}", payload={"writer": writer, "n": n})
    engine.dispose()


def _run_sequencer(url: str, start: multiprocessing.Event, stop: multiprocessing.Event) -> None:
    engine = make_engine(url)
    start.wait(60)
    while not stop.is_set():
        sequence_pending(engine, batch=16, wait=False)
    engine.dispose()


@pytest.mark.slow
def test_writers_in_several_processes_never_fork_or_gap_the_chain(pg_engine: Engine) -> None:
    url = pg_engine.url.render_as_string(hide_password=False)
    sessions = make_session_factory(pg_engine)
    sequence_pending(pg_engine)
    with sessions() as session:
        before = SqlAuditStore().head(session).seq
    spawn = multiprocessing.get_context("spawn")  # no inherited connections
    start, stop = spawn.Event(), spawn.Event()
    sequencers = [spawn.Process(target=_run_sequencer, args=(url, start, stop))
                  for _ in range(2)]
    writers = [spawn.Process(target=_write_events, args=(url, w, start)) for w in range(WRITERS)]
    for process in (*sequencers, *writers):
        process.start()
    start.set()
    for process in writers:
        process.join(120)
    stop.set()
    for process in sequencers:
        process.join(120)
    assert [p.exitcode for p in (*writers, *sequencers)] == [0] * (WRITERS + 2)
    sequence_pending(pg_engine)
    with sessions() as session:
        events = list(SqlAuditStore().events(session, after_seq=before))
        report = verify_audit_log(session, SIGNER.verifier, None)
        waiting = session.execute(text("SELECT count(*) FROM audit_pending")).scalar_one()
    assert report.ok, report.broken
    assert [e.seq for e in events] == list(range(before + 1, before + WRITERS * EVENTS_EACH + 1))
    assert len({e.prev_hash for e in events}) == len(events)  # no fork
    assert sorted(e.event.resource for e in events) == sorted(
        f"thing:{w}:{n}" for w in range(WRITERS) for n in range(EVENTS_EACH))  # each once
    assert waiting == 0
    for writer in range(WRITERS):  # each writer's own events keep their order
        mine = [e.event.payload["n"] for e in events if e.event.payload["writer"] == writer]
        assert mine == list(range(EVENTS_EACH))
