"""Full verification finds and locates every kind of edit made behind the append-only triggers
(as a superuser would), on PostgreSQL and SQLite: changed bytes in any column, deleted,
inserted and reordered rows, a cut-off tail, a rollback to an older backup, a consistent
rewrite of chain and tree, tampered tree nodes and checkpoint rows."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from policy.audit import ChainedEvent, ChainHead
from policy.audit.merkle import TreeFrontier, leaf_hash
from service.audit.checkpoints import checkpoint_path
from service.audit.sequencer import LogHead, append_events, lock_head, write_head
from service.audit.verify import Reason
from service.db.audit import SqlAuditStore
from service.db.models.audit import AuditEventRow
from tests.service.audit.log_support import (  # noqa: F401 (fixtures)
    HeadState,
    Log,
    log_engine,
    log_session,
    restore_head,
    without_triggers,
)


@pytest.fixture
def log(log_session: Session, tmp_path: Path) -> Log:
    """22 events of this test (after whatever earlier tests committed): 5, a checkpoint,
    11 more, a second checkpoint, and 6 not yet checkpointed."""
    built = Log(log_session, tmp_path / "checkpoints")
    built.append(5)
    built.checkpoint()
    built.append(11)
    built.checkpoint()
    built.append(6)
    return built


def _seqs(log: Log) -> list[int]:
    head = log.head().seq
    return list(range(head - 21, head + 1))  # this test's 22 events


def _bad(log: Log) -> tuple[int, Reason]:
    report = log.verify()
    assert report.broken is not None, "tampering went unnoticed"
    return report.broken.seq, report.broken.reason


def test_an_untouched_log_verifies(log: Log) -> None:
    report = log.verify()
    assert report.ok, report.broken
    head = log.head()
    assert (report.events, report.head.seq, report.tree_size) == (head.seq, head.seq, head.seq)
    assert report.checkpoints >= 2
    assert report.latest_exported is not None
    assert report.latest_exported.size == head.seq - 6


@pytest.mark.parametrize(("column", "value"), [
    ("payload", '{"n": 1, "note": "ordinarY"}'),
    ("actor", "system:tesT"),
    ("resource", "thing:999"),
    ("outcome", "denied"),
    ("request_id", "req-lol"),
    ("client_address", "198.51.100.1"),
])
def test_a_changed_byte_in_any_column_is_located(log: Log, column: str, value: str) -> None:
    target = _seqs(log)[7]
    without_triggers(log.session)
    log.session.execute(text(f"UPDATE audit_events SET {column} = :v WHERE seq = :s"),
                        {"v": value, "s": target})
    assert _bad(log) == (target, Reason.HASH_MISMATCH)


def test_a_changed_time_is_located(log: Log) -> None:
    target = _seqs(log)[3]
    stored = next(SqlAuditStore().events(log.session, after_seq=target - 1)).event
    without_triggers(log.session)
    log.session.execute(update(AuditEventRow).where(AuditEventRow.seq == target).values(
        occurred_at=stored.occurred_at + timedelta(microseconds=1)))
    assert _bad(log) == (target, Reason.HASH_MISMATCH)


def test_a_deleted_row_is_located(log: Log) -> None:
    target = _seqs(log)[10]
    without_triggers(log.session)
    log.session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": target})
    assert _bad(log) == (target, Reason.SEQUENCE_GAP)


def test_reordered_rows_are_located(log: Log) -> None:
    first = _seqs(log)[12]
    without_triggers(log.session)
    for old, new in ((first, -1), (first + 1, first), (-1, first + 1)):
        log.session.execute(text("UPDATE audit_events SET seq = :new WHERE seq = :old"),
                            {"old": old, "new": new})
    assert _bad(log) == (first, Reason.PREV_HASH_MISMATCH)


def test_a_row_inserted_in_the_middle_is_located(log: Log) -> None:
    target = _seqs(log)[9]
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_events SET seq = -seq WHERE seq >= :s"),
                        {"s": target})
    log.session.execute(text("UPDATE audit_events SET seq = 1 - seq WHERE seq < 0"))
    _insert_forged(log, target, prev_hash=hashlib.sha256(b"whatever").hexdigest())
    seq, reason = _bad(log)
    assert seq == target and reason in (Reason.PREV_HASH_MISMATCH, Reason.TREE_NODE_MISMATCH)


def test_a_forged_event_past_the_head_is_found(log: Log) -> None:
    head = log.head()
    without_triggers(log.session)
    _insert_forged(log, head.seq + 1, prev_hash=head.hash)  # a well-linked forgery
    assert _bad(log) == (head.seq + 1, Reason.HEAD_MISMATCH)


def _insert_forged(log: Log, seq: int, *, prev_hash: str) -> None:
    real = next(SqlAuditStore().events(log.session, after_seq=seq - 2)).event
    forged = ChainedEvent.after(ChainHead(seq - 1, prev_hash), real)
    log.session.execute(AuditEventRow.__table__.insert().values(
        seq=seq, occurred_at=real.occurred_at, actor="user:forged", action=real.action,
        resource=real.resource, outcome=real.outcome, request_id=None,
        payload=json.loads(real.payload_json), prev_hash=forged.prev_hash,
        hash=hashlib.sha256(b"forged" + str(seq).encode()).hexdigest()))


def test_a_cut_off_tail_is_located(log: Log) -> None:
    seqs = _seqs(log)
    without_triggers(log.session)
    log.session.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": seqs[-2]})
    assert _bad(log) == (seqs[-2], Reason.TRUNCATED)


def test_a_tail_cut_with_its_head_and_tree_is_a_rollback(log: Log) -> None:
    # The thorough truncation: events, their tree nodes and the head all put back to an
    # earlier state. Only the signed checkpoints remember more events.
    seqs = _seqs(log)
    keep = seqs[2]  # before the first checkpoint of this test
    _truncate_to(log, keep)
    assert _bad(log) == (keep + 1, Reason.ROLLED_BACK)


def _truncate_to(log: Log, keep: int) -> None:
    events = list(SqlAuditStore().events(log.session, through_seq=keep))
    frontier = TreeFrontier()
    for stored in events:
        frontier.append(leaf_hash(stored.event.canonical_bytes()))
    without_triggers(log.session)
    log.session.execute(text("DELETE FROM audit_events WHERE seq > :k"), {"k": keep})
    for level in range(40):
        log.session.execute(text("DELETE FROM audit_tree_nodes WHERE level = :l AND "
                                 "node_index >= :n"), {"l": level, "n": keep >> level})
    log.session.execute(text("DELETE FROM audit_checkpoints WHERE tree_size > :k"), {"k": keep})
    last = events[-1].head
    restore_head(log.session, HeadState(last.seq, last.hash, keep, frontier.to_bytes()))


def test_a_restored_backup_that_grew_again_is_located(log: Log) -> None:
    # Restored from a backup taken before the newest exported checkpoint, then written to:
    # the tree passes that checkpoint's size with another root.
    seqs = _seqs(log)
    first_checkpoint = seqs[4]
    _truncate_to(log, first_checkpoint + 2)
    log.append(20)
    assert _bad(log) == (first_checkpoint + 1, Reason.CHECKPOINT_ROOT_MISMATCH)


def test_a_consistent_rewrite_of_chain_and_tree_is_caught_by_the_checkpoint(log: Log) -> None:
    # Someone who recomputes every hash after the edit: links and nodes all match again; only
    # the signed root cannot be reproduced.
    seqs = _seqs(log)
    first_checkpoint, target = seqs[4], seqs[8]
    events = list(SqlAuditStore().events(log.session, after_seq=target - 1))
    without_triggers(log.session)
    log.session.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": target})
    for level in range(40):
        log.session.execute(text("DELETE FROM audit_tree_nodes WHERE level = :l AND "
                                 "node_index >= :n"), {"l": level, "n": (target - 1) >> level})
    before = next(SqlAuditStore().events(log.session, after_seq=target - 2))
    edited = [e.event for e in events]
    edited[0] = dataclasses.replace(edited[0], actor="user:someone-else")
    _rebuild_tree_to(log, target - 1)
    head = LogHead(chain=before.head, frontier=lock_head(log.session).frontier)
    chain = append_events(log.session, head, edited)
    write_head(log.session, chain, head.frontier)
    assert _bad(log) == (first_checkpoint + 1, Reason.CHECKPOINT_ROOT_MISMATCH)


def _rebuild_tree_to(log: Log, size: int) -> None:
    frontier = TreeFrontier()
    for stored in SqlAuditStore().events(log.session, through_seq=size):
        frontier.append(leaf_hash(stored.event.canonical_bytes()))
    log.session.execute(text("UPDATE audit_chain_head SET tree_size = :t, frontier = :f"),
                        {"t": size, "f": frontier.to_bytes()})


@pytest.mark.parametrize("level", [0, 1, 2])
def test_a_tampered_tree_node_is_located(log: Log, level: int) -> None:
    target = _seqs(log)[8]
    index = (target - 1) >> level
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_tree_nodes SET hash = :h WHERE level = :l AND "
                             "node_index = :i"), {"h": bytes(32), "l": level, "i": index})
    assert _bad(log) == ((index + 1) << level, Reason.TREE_NODE_MISMATCH)


def test_a_deleted_tree_node_is_located(log: Log) -> None:
    target = _seqs(log)[8]
    without_triggers(log.session)
    log.session.execute(text("DELETE FROM audit_tree_nodes WHERE level = 0 AND node_index = :i"),
                        {"i": target - 1})
    assert _bad(log) == (target, Reason.TREE_NODE_MISSING)


def test_tampered_checkpoint_rows_are_found(log: Log) -> None:
    size = log.head().seq - 6
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_checkpoints SET root_hash = :r WHERE tree_size = :s"),
                        {"r": bytes(32), "s": size})
    assert _bad(log) == (size, Reason.CHECKPOINT_INVALID)


def test_a_forged_checkpoint_note_is_found(log: Log) -> None:
    size = log.head().seq - 6
    note = log.session.execute(text("SELECT note FROM audit_checkpoints WHERE tree_size = :s"),
                               {"s": size}).scalar_one()
    forged = note.replace(f"\n{size}\n", f"\n{size - 1}\n")
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_checkpoints SET note = :n WHERE tree_size = :s"),
                        {"n": forged, "s": size})
    assert _bad(log) == (size, Reason.CHECKPOINT_INVALID)


def test_a_deleted_checkpoint_row_is_found_through_its_export(log: Log) -> None:
    size = log.head().seq - 6
    without_triggers(log.session)
    log.session.execute(text("DELETE FROM audit_checkpoints WHERE tree_size = :s"), {"s": size})
    assert _bad(log) == (size, Reason.CHECKPOINT_UNSTORED)


def test_a_tampered_export_is_found(log: Log) -> None:
    size = log.head().seq - 6
    path = checkpoint_path(log.directory, size)
    path.chmod(0o644)
    path.write_text(path.read_text().replace("time ", "time  ", 1))
    assert _bad(log) == (size, Reason.CHECKPOINT_INVALID)


def test_a_tampered_head_frontier_is_found(log: Log) -> None:
    head = log.head()
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_chain_head SET frontier = :f"),
                        {"f": bytes(len(head.frontier or b""))})
    assert _bad(log) == (head.seq, Reason.HEAD_MISMATCH)


def test_verification_streams_in_pages(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.audit.verify_walk.PAGE", 4)
    target = _seqs(log)[13]
    assert log.verify().ok
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_events SET actor = 'x:y' WHERE seq = :s"),
                        {"s": target})
    assert _bad(log) == (target, Reason.HASH_MISMATCH)
