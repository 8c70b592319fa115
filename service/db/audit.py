"""The audit log's write side and its plain read side, for a SQLAlchemy ``Session``.

``record`` inserts the event into the ``audit_pending`` inbox in the caller's transaction: it
commits or rolls back with the state change it records, and concurrent writers never wait on
each other (no shared row is locked). The sequencer (``service.audit.sequencer``) later gives
committed events their place in the chain (seq, prev_hash, hash) and in the Merkle tree. Read
the log only after sequencing (``service.audit.sequencer.sequence_pending``): until then an
event is in the inbox, not in ``audit_events``.

``SqlAuditStore`` reads the chain (head, events in keyset pages) and ``verify_audit_chain``
checks the links; ``service.audit.verify`` checks the tree and the signed checkpoints too.
Core statements, not ORM objects, so reads see the database rather than the identity map.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, insert, select
from sqlalchemy.orm import Session

from policy.audit import (
    AuditEvent,
    ChainedEvent,
    ChainHead,
    ChainReport,
    Outcome,
    canonical_json,
    verify_chain,
)
from policy.errors import AuditEventInvalid
from service.db.models.audit import HEAD_ROW_ID, AuditChainHead, AuditEventRow, AuditPendingRow
from service.db.types import utcnow
from service.errors import DatabaseNotReady

if TYPE_CHECKING:
    from service.audit.personal import AuditKeyring

_EVENTS_PAGE = 500
_INSERT_PENDING = insert(AuditPendingRow.__table__).returning(AuditPendingRow.__table__.c.id)


@dataclass(frozen=True)
class AuditContext:
    """Who is acting, passed down from the edge (API request, worker, CLI)."""

    actor: str  # "user:<uuid>", "api_key:<key id>", "system:<component>", "anonymous"
    request_id: str | None = None
    client_address: str | None = None  # the caller's address, where there is one
    # The master key that seals personal fields (``service.audit.personal``); None: withheld.
    keyring: AuditKeyring | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class PendingEvent:
    """An event written to the inbox: ``pending_id`` orders it for the sequencer."""

    pending_id: int
    event: AuditEvent


def record(session: Session, context: AuditContext, action: str, resource: str, *,
           outcome: Outcome = Outcome.SUCCESS, payload: Mapping[str, Any] | None = None,
           now: datetime | None = None) -> PendingEvent:
    """Write one event for ``context`` in the session's transaction (what services call)."""
    event = AuditEvent.of(actor=context.actor, action=action, resource=resource,
                          outcome=outcome, request_id=context.request_id, payload=payload,
                          occurred_at=now or utcnow(), client_address=context.client_address)
    # One prebuilt Core statement on the session's connection: the hot path of every request.
    pending_id = session.connection().execute(_INSERT_PENDING, pending_values(event)).scalar_one()
    return PendingEvent(pending_id=pending_id, event=event)


def pending_values(event: AuditEvent) -> dict[str, Any]:
    """The ``audit_pending`` columns of ``event``."""
    return {"occurred_at": event.occurred_at, "actor": event.actor, "action": event.action,
            "resource": event.resource, "outcome": event.outcome,
            "request_id": event.request_id, "client_address": event.client_address,
            "payload_json": event.payload_json}


class SqlAuditStore:
    """Reads the chain in ``audit_events`` / ``audit_chain_head``."""

    def head(self, session: Session) -> ChainHead:
        row = session.execute(select(AuditChainHead.seq, AuditChainHead.hash)
                              .where(AuditChainHead.id == HEAD_ROW_ID)).one_or_none()
        if row is None:
            raise DatabaseNotReady("the audit chain head is missing: run the migrations",
                                   table="audit_chain_head")
        return ChainHead(seq=row.seq, hash=row.hash)

    def events(self, session: Session, *, after_seq: int = 0, through_seq: int | None = None,
               page: int | None = None) -> Iterator[ChainedEvent]:
        """Stored events with ``after_seq < seq <= through_seq`` in chain order."""
        for rows in event_pages(session, after_seq=after_seq, through_seq=through_seq,
                                page=page or _EVENTS_PAGE):
            yield from (chained_event(row) for row in rows)


def event_columns() -> list[Any]:
    """``audit_events`` columns as ``stored_event`` reads them: the payload as its stored text
    (the sequencer writes canonical JSON, which then needs no decoding and re-encoding;
    PostgreSQL ``json`` keeps the text as written)."""
    table = AuditEventRow.__table__
    columns: list[Any] = [c for c in table.columns if c.name != "payload"]
    columns.append(cast(table.c.payload, Text).label("payload_text"))
    return columns


def event_pages(session: Session, *, after_seq: int = 0, through_seq: int | None = None,
                page: int = _EVENTS_PAGE) -> Iterator[list[Any]]:
    """Keyset pages of raw ``audit_events`` rows (not ORM objects, which would pile up in the
    session's identity map): bounded memory on a long log, no server-side cursor needed."""
    table = AuditEventRow.__table__
    columns = event_columns()
    last = after_seq
    while through_seq is None or last < through_seq:
        query = select(*columns).where(table.c.seq > last)
        if through_seq is not None:
            query = query.where(table.c.seq <= through_seq)
        rows = list(session.execute(query.order_by(table.c.seq).limit(page)).all())
        if not rows:
            return
        yield rows
        last = rows[-1].seq


def stored_event(row: Any) -> AuditEvent:
    """The event an ``event_pages`` row holds (raises ``AuditEventInvalid`` if malformed)."""
    fields = {"actor": row.actor, "action": row.action, "resource": row.resource,
              "outcome": row.outcome, "occurred_at": row.occurred_at,
              "request_id": row.request_id, "client_address": row.client_address}
    try:
        return AuditEvent(payload_json=row.payload_text, **fields)
    except AuditEventInvalid as exc:
        if exc.context.get("field") != "payload":
            raise
    # Stored as non-canonical text (written before the sequencer stored canonical text).
    try:
        decoded = json.loads(row.payload_text)
    except (TypeError, ValueError) as exc:
        raise AuditEventInvalid(f"stored audit payload is not JSON: {exc}",
                                field="payload") from exc
    return AuditEvent(payload_json=canonical_json(decoded), **fields)


def chained_event(row: Any) -> ChainedEvent:
    return ChainedEvent(seq=row.seq, event=stored_event(row), prev_hash=row.prev_hash,
                        hash=row.hash)


def verify_audit_chain(session: Session) -> ChainReport:
    """Verify the links of every sequenced event from genesis up to the recorded head."""
    # Head first, then only events up to it: events sequenced meanwhile do not count as a
    # mismatch even without a snapshot-isolated transaction.
    store = SqlAuditStore()
    head = store.head(session)
    return verify_chain(store.events(session, through_seq=head.seq), expected_head=head)
