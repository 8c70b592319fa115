"""The sequencer: the one place events get their sequence number, chain hash and tree leaf.

Writers only insert into the ``audit_pending`` inbox (``service.db.audit.record``), so they
never wait on each other. A sequencer transaction locks the chain head (PostgreSQL ``SELECT ...
FOR UPDATE``; SQLite's write lock, taken at ``BEGIN IMMEDIATE``), takes committed inbox rows in
id order, links them onto the chain, appends their leaves to the Merkle tree (storing every
perfect node it completes), inserts them into ``audit_events``, deletes them from the inbox and
moves the head - all or nothing. Only sequencers take that lock, so several of them (every
worker's maintenance loop, every API process's thread, a read on demand) never fork the chain:
they run one after another, and a background one skips its turn when another holds the lock.

A head whose tree lags its chain (events chained before the tree existed) is caught up from
``audit_events`` before new events are taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
    Insert,
    Text,
    bindparam,
    cast,
    delete,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from policy.audit import AuditEvent, ChainedEvent, ChainHead
from policy.audit.merkle import Node, TreeFrontier, leaf_hash
from policy.errors import AuditEventInvalid
from service.audit.tree_store import store_nodes
from service.db.audit import event_pages, stored_event
from service.db.engine import make_session_factory
from service.db.models.audit import HEAD_ROW_ID, AuditChainHead, AuditEventRow, AuditPendingRow
from service.errors import AuditSequencingFailed, DatabaseNotReady

DEFAULT_BATCH = 1000
_HEAD = AuditChainHead.__table__
_PENDING = AuditPendingRow.__table__


@dataclass(frozen=True)
class LogHead:
    """The locked head: the chain's last link and the tree over the first ``frontier.size``."""

    chain: ChainHead
    frontier: TreeFrontier

    @property
    def tree_size(self) -> int:
        return self.frontier.size


@dataclass(frozen=True)
class SequencedBatch:
    """What one sequencer transaction did: ``chained`` inbox events, ``backfilled`` leaves of
    events chained earlier, and the head it left."""

    chained: int
    backfilled: int
    head: ChainHead
    tree_size: int


def lock_head(session: Session, *, wait: bool = True) -> LogHead | None:
    """Lock and read the head in the session's transaction; ``None`` when ``wait`` is false and
    another sequencer holds it (PostgreSQL; SQLite's lock was already taken at BEGIN)."""
    query = select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.tree_size, _HEAD.c.frontier).where(
        _HEAD.c.id == HEAD_ROW_ID).with_for_update(skip_locked=not wait)
    row = session.execute(query).one_or_none()
    if row is None:
        if session.execute(select(_HEAD.c.id).where(_HEAD.c.id == HEAD_ROW_ID)).first():
            return None  # locked by another sequencer
        raise DatabaseNotReady("the audit chain head is missing: run the migrations "
                               "(alembic upgrade head)", table="audit_chain_head")
    frontier = TreeFrontier.from_bytes(row.tree_size, bytes(row.frontier or b""))
    return LogHead(chain=ChainHead(seq=row.seq, hash=row.hash), frontier=frontier)


def sequence_batch(session: Session, *, limit: int = DEFAULT_BATCH,
                   wait: bool = True) -> SequencedBatch | None:
    """Sequence up to ``limit`` events in the session's transaction (the caller commits).

    ``None`` if another sequencer holds the head and ``wait`` is false.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    head = lock_head(session, wait=wait)
    if head is None:
        return None
    backfilled = _backfill_tree(session, head, limit)
    chained_head, chained = head.chain, 0
    if backfilled < limit and head.tree_size == head.chain.seq:
        rows = session.execute(select(_PENDING).order_by(_PENDING.c.id)
                               .limit(limit - backfilled)).all()
        chained_head = append_events(session, head, [_pending_event(row) for row in rows])
        _delete_pending(session, [row.id for row in rows])
        chained = len(rows)
    if chained or backfilled:
        _move_head(session, chained_head, head.frontier)
    return SequencedBatch(chained=chained, backfilled=backfilled, head=chained_head,
                          tree_size=head.tree_size)


def append_events(session: Session, head: LogHead, events: Sequence[AuditEvent]) -> ChainHead:
    """Chain ``events`` after ``head`` and add their leaves: the sequencer's core, also used to
    bulk-load a benchmark database. ``head.frontier`` is advanced in place; returns the new
    chain head. The caller holds the lock and moves the head row."""
    chain = head.chain
    rows: list[dict[str, Any]] = []
    nodes: list[Node] = []
    for event in events:
        linked = ChainedEvent.after(chain, event)
        rows.append(_event_values(linked))
        nodes.extend(head.frontier.append(leaf_hash(event.canonical_bytes())))
        chain = linked.head
    if rows:
        session.execute(_insert_events(session), rows)
        store_nodes(session, nodes)
    return chain


def write_head(session: Session, chain: ChainHead, frontier: TreeFrontier) -> None:
    """Move the (locked) head row to ``chain`` and ``frontier``."""
    _move_head(session, chain, frontier)


def _backfill_tree(session: Session, head: LogHead, limit: int) -> int:
    """Add leaves for events chained before the tree existed (``tree_size < seq``)."""
    start = head.tree_size
    through = min(head.chain.seq, start + limit)
    nodes: list[Node] = []
    for rows in event_pages(session, after_seq=start, through_seq=through):
        for row in rows:
            if row.seq != head.frontier.size + 1:
                break
            nodes.extend(head.frontier.append(leaf_hash(stored_event(row).canonical_bytes())))
    if head.frontier.size != through:
        raise AuditSequencingFailed(
            f"cannot build the audit tree: event {head.frontier.size + 1} is missing; run "
            "`likeness audit verify`", seq=head.frontier.size + 1)
    store_nodes(session, nodes)
    return through - start


def _pending_event(row: Any) -> AuditEvent:
    try:
        return AuditEvent(actor=row.actor, action=row.action, resource=row.resource,
                          outcome=row.outcome, occurred_at=row.occurred_at,
                          request_id=row.request_id, payload_json=row.payload_json,
                          client_address=row.client_address)
    except AuditEventInvalid as exc:  # record() validates: only a direct insert gets here
        raise AuditSequencingFailed(f"inbox row {row.id} is not a valid audit event "
                                    f"({exc.message}); remove it by hand",
                                    pending_id=row.id) from exc


def _event_values(linked: ChainedEvent) -> dict[str, Any]:
    event = linked.event
    return {"seq": linked.seq, "occurred_at": event.occurred_at, "actor": event.actor,
            "action": event.action, "resource": event.resource, "outcome": event.outcome,
            "request_id": event.request_id, "client_address": event.client_address,
            "payload_text": event.payload_json, "prev_hash": linked.prev_hash,
            "hash": linked.hash}


def _insert_events(session: Session) -> Insert:
    """Insert events with the payload's canonical text stored as is (not re-serialised)."""
    text_value = type_coerce(bindparam("payload_text"), Text)
    if session.get_bind().dialect.name == "postgresql":
        return insert(AuditEventRow).values(payload=cast(text_value, JSON))
    return insert(AuditEventRow).values(payload=text_value)  # SQLite keeps JSON as text


def _delete_pending(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    deleted = session.execute(delete(AuditPendingRow).where(AuditPendingRow.id.in_(ids)))
    if deleted.rowcount != len(ids):  # only a second, unlocked sequencer could cause this
        raise AuditSequencingFailed(f"deleted {deleted.rowcount} of {len(ids)} sequenced inbox "
                                    "rows: another writer removed some", expected=len(ids),
                                    deleted=deleted.rowcount)


def _move_head(session: Session, chain: ChainHead, frontier: TreeFrontier) -> None:
    session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ROW_ID).values(
        seq=chain.seq, hash=chain.hash, tree_size=frontier.size, frontier=frontier.to_bytes()))


def sequence_pending(target: Session | Engine | sessionmaker[Session], *,
                     batch: int = DEFAULT_BATCH, wait: bool = True) -> int:
    """Sequence every inbox event visible now; return how many were chained.

    ``target`` a ``Session``: inside its transaction (the caller commits; what tests use to
    see their own uncommitted events in the log). An ``Engine`` or session factory: one
    committed transaction per batch, so a long inbox never holds the lock for long. With
    ``wait`` false, returns early when another sequencer holds the lock (background loops).
    """
    if isinstance(target, Session):
        return _drain(lambda: sequence_batch(target, limit=batch, wait=wait))
    sessions = make_session_factory(target) if isinstance(target, Engine) else target

    def one_transaction() -> SequencedBatch | None:
        with sessions() as session, session.begin():
            return sequence_batch(session, limit=batch, wait=wait)

    return _drain(one_transaction)


def _drain(step: Any) -> int:
    total = 0
    while True:
        done: SequencedBatch | None = step()
        if done is None:
            return total
        total += done.chained
        if done.chained + done.backfilled == 0:
            return total
