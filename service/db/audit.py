"""The audit chain stored in SQL: ``policy.audit.AuditStore`` for a SQLAlchemy ``Session``.

``append`` runs in the caller's transaction. It locks the chain-head row (PostgreSQL:
``SELECT ... FOR UPDATE``; SQLite already holds the database write lock from ``BEGIN
IMMEDIATE``), links the event onto the head, inserts it and moves the head, so concurrent
transactions extend the chain one after another and the event commits or rolls back with the
state change it records. Core statements, not ORM objects, so the head is always re-read from
the database rather than from the session's identity map.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from policy.audit import AuditEvent, ChainedEvent, ChainHead, ChainReport, Outcome, canonical_json
from policy.audit import verify_store as _verify_store
from service.db.models.audit import HEAD_ROW_ID, AuditChainHead, AuditEventRow
from service.db.types import utcnow
from service.errors import DatabaseNotReady

_EVENTS_PAGE = 500


@dataclass(frozen=True)
class AuditContext:
    """Who is acting, passed down from the edge (API request, worker, CLI)."""

    actor: str  # "user:<uuid>", "api_key:<key id>", "system:<component>", "anonymous"
    request_id: str | None = None


class SqlAuditStore:
    """The audit chain in the ``audit_events`` / ``audit_chain_head`` tables."""

    def append(self, session: Session, event: AuditEvent) -> ChainedEvent:
        head_row = session.execute(
            select(AuditChainHead.seq, AuditChainHead.hash)
            .where(AuditChainHead.id == HEAD_ROW_ID)
            .with_for_update()
        ).one_or_none()
        if head_row is None:
            raise DatabaseNotReady("the audit chain head is missing: run the migrations "
                                   "(alembic upgrade head)", table="audit_chain_head")
        chained = ChainedEvent.after(ChainHead(seq=head_row.seq, hash=head_row.hash), event)
        session.execute(insert(AuditEventRow).values(
            seq=chained.seq, occurred_at=event.occurred_at, actor=event.actor,
            action=event.action, resource=event.resource, outcome=event.outcome,
            request_id=event.request_id, payload=event.payload, prev_hash=chained.prev_hash,
            hash=chained.hash,
        ))
        session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ROW_ID)
                        .values(seq=chained.seq, hash=chained.hash))
        return chained

    def head(self, session: Session) -> ChainHead:
        row = session.execute(select(AuditChainHead.seq, AuditChainHead.hash)
                              .where(AuditChainHead.id == HEAD_ROW_ID)).one_or_none()
        if row is None:
            raise DatabaseNotReady("the audit chain head is missing: run the migrations",
                                   table="audit_chain_head")
        return ChainHead(seq=row.seq, hash=row.hash)

    def events(self, session: Session, *, after_seq: int = 0,
               through_seq: int | None = None) -> Iterator[ChainedEvent]:
        # Keyset pages of plain rows (not ORM objects, which would pile up in the session's
        # identity map): bounded memory on a long chain, no server-side cursor needed.
        table = AuditEventRow.__table__
        last = after_seq
        while through_seq is None or last < through_seq:
            query = select(*table.columns).where(table.c.seq > last)
            if through_seq is not None:
                query = query.where(table.c.seq <= through_seq)
            rows = session.execute(query.order_by(table.c.seq).limit(_EVENTS_PAGE)).all()
            if not rows:
                return
            for row in rows:
                yield _to_chained(row)
            last = rows[-1].seq


def _to_chained(row: Any) -> ChainedEvent:
    event = AuditEvent(actor=row.actor, action=row.action, resource=row.resource,
                       outcome=row.outcome, occurred_at=row.occurred_at,
                       request_id=row.request_id, payload_json=canonical_json(row.payload))
    return ChainedEvent(seq=row.seq, event=event, prev_hash=row.prev_hash, hash=row.hash)


def record(session: Session, context: AuditContext, action: str, resource: str, *,
           outcome: Outcome = Outcome.SUCCESS, payload: Mapping[str, Any] | None = None,
           now: datetime | None = None) -> ChainedEvent:
    """Append one event for ``context`` in the session's transaction (what services call)."""
    event = AuditEvent.of(actor=context.actor, action=action, resource=resource,
                          outcome=outcome, request_id=context.request_id, payload=payload,
                          occurred_at=now or utcnow())
    return SqlAuditStore().append(session, event)


def verify_audit_chain(session: Session) -> ChainReport:
    """Verify every stored event from genesis up to the recorded head."""
    return _verify_store(SqlAuditStore(), session)
