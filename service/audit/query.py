"""Officers' queries over the audit log: filters, keyset pages, personal fields opened.

Filters: a time range (``since`` inclusive, ``until`` exclusive), the exact actor
(``api_key:<key id>``, ``user:<uuid>``, ``system:worker:...``), the organisation (partner),
subject or job an event concerns (``audit_event_refs``, see ``service.audit.refs``), an action
prefix on the ``source:subject:action`` tag (``compliance:`` or ``job:job:``) and the outcome.
Pages are keyset pages on ``seq`` (``cursor`` = the last seq of the previous page), newest or
oldest first, at most ``MAX_LIMIT`` events; a page is stable while the log grows, because
sequence numbers never change. ``refresh_log`` first sequences the inbox and indexes new
events, so a query sees every committed event.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from policy.audit import AuditEvent, ChainedEvent, Outcome, canonical_json
from service.audit.personal import AuditKeyring, PayloadOpener
from service.audit.refs import EventRefs, index_new_events
from service.audit.sequencer import sequence_pending
from service.db.models import AuditEventRef, AuditEventRow
from service.errors import RequestInvalid

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_ACTION_PREFIX = re.compile(r"[a-z0-9_:]{1,200}")
_EVENTS, _REFS = AuditEventRow.__table__, AuditEventRef.__table__


class Order(enum.StrEnum):
    NEWEST = "newest"  # descending seq
    OLDEST = "oldest"  # ascending seq (chain order)


@dataclass(frozen=True)
class AuditFilter:
    """What an officer asks for; every field optional (all must match)."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    organisation_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    action: str | None = None  # a prefix of the tag
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
                raise RequestInvalid(f"{name} needs a time zone (e.g. 2026-11-01T00:00:00Z)",
                                     field=name)
        if self.since and self.until and self.since >= self.until:
            raise RequestInvalid("since must be before until", field="since")
        if self.action is not None and not _ACTION_PREFIX.fullmatch(self.action):
            raise RequestInvalid("action is a prefix of a source:subject:action tag "
                                 "(lowercase letters, digits, _ and :)", field="action")
        if self.actor is not None and not 0 < len(self.actor) <= 200:
            raise RequestInvalid("actor must be 1-200 characters", field="actor")
        if self.outcome is not None:
            object.__setattr__(self, "outcome", Outcome(self.outcome))

    def describe(self) -> dict[str, Any]:
        """The filter as plain JSON (recorded in export events), unset fields left out."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {name: value.isoformat() if isinstance(value, datetime) else str(value)
                for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class AuditRecord:
    """One sequenced event as an officer sees it; ``payload`` has personal fields opened
    (or ``[erased]`` / ``[sealed]``), ``stored_payload`` is exactly what was hashed."""

    seq: int
    occurred_at: datetime
    actor: str
    action: str
    resource: str
    outcome: Outcome
    request_id: str | None
    client_address: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    refs: EventRefs
    stored_payload: dict[str, Any] = field(repr=False)

    def chained(self) -> ChainedEvent:
        """The event exactly as stored and hashed (personal fields sealed)."""
        event = AuditEvent(actor=self.actor, action=self.action, resource=self.resource,
                           outcome=self.outcome, occurred_at=self.occurred_at,
                           request_id=self.request_id, client_address=self.client_address,
                           payload_json=canonical_json(self.stored_payload))
        return ChainedEvent(seq=self.seq, event=event, prev_hash=self.prev_hash, hash=self.hash)


@dataclass(frozen=True)
class AuditPage:
    records: tuple[AuditRecord, ...]
    next_cursor: int | None  # pass as ``cursor`` for the next page; None: this was the last


def refresh_log(session: Session) -> None:
    """Sequence committed inbox events and index what is new, in the session's transaction."""
    sequence_pending(session)
    index_new_events(session)


def query_events(session: Session, flt: AuditFilter, *, order: Order = Order.NEWEST,
                 cursor: int | None = None, limit: int = DEFAULT_LIMIT,
                 keyring: AuditKeyring | None = None,
                 through_seq: int | None = None) -> AuditPage:
    """One page of sequenced events matching ``flt`` (call ``refresh_log`` first)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise RequestInvalid(f"limit must be 1-{MAX_LIMIT}", field="limit", limit=limit)
    if cursor is not None and cursor < 0:
        raise RequestInvalid("cursor must be a next_cursor value from a previous page",
                             field="cursor")
    order = Order(order)
    query = _filtered(flt)
    if through_seq is not None:
        query = query.where(_EVENTS.c.seq <= through_seq)
    if cursor is not None:
        query = query.where(_EVENTS.c.seq < cursor if order == Order.NEWEST
                            else _EVENTS.c.seq > cursor)
    query = query.order_by(_EVENTS.c.seq.desc() if order == Order.NEWEST else _EVENTS.c.seq)
    rows = session.execute(query.limit(limit + 1)).all()
    opener = PayloadOpener(session, keyring)
    records = tuple(to_record(row, opener) for row in rows[:limit])
    return AuditPage(records, records[-1].seq if len(rows) > limit else None)


def _filtered(flt: AuditFilter) -> Select[Any]:
    query = select(_EVENTS, _REFS.c.organisation_id, _REFS.c.subject_id, _REFS.c.job_id) \
        .outerjoin(_REFS, _REFS.c.seq == _EVENTS.c.seq)
    conditions = []
    if flt.since is not None:
        conditions.append(_EVENTS.c.occurred_at >= flt.since)
    if flt.until is not None:
        conditions.append(_EVENTS.c.occurred_at < flt.until)
    if flt.actor is not None:
        conditions.append(_EVENTS.c.actor == flt.actor)
    if flt.action is not None:
        escaped = flt.action.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
        conditions.append(_EVENTS.c.action.like(escaped + "%", escape="\\"))
    if flt.outcome is not None:
        conditions.append(_EVENTS.c.outcome == flt.outcome)
    for name in ("organisation_id", "subject_id", "job_id"):
        if getattr(flt, name) is not None:
            conditions.append(_REFS.c[name] == getattr(flt, name))
    return query.where(*conditions)


def to_record(row: Any, opener: PayloadOpener) -> AuditRecord:
    stored = dict(row.payload or {})
    return AuditRecord(
        seq=row.seq, occurred_at=row.occurred_at, actor=row.actor, action=row.action,
        resource=row.resource, outcome=Outcome(row.outcome), request_id=row.request_id,
        client_address=row.client_address, payload=opener.open(stored),
        prev_hash=row.prev_hash, hash=row.hash,
        refs=EventRefs(row.organisation_id, row.subject_id, row.job_id), stored_payload=stored)
