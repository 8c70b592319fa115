"""Which organisation, subject and job each audit event concerns, kept in an indexed side table.

Officers filter the log by partner, subject or job, but an event names them in many ways: its
resource (``job:<id>``, ``consent:<id>``, ``artifact:<asset id>``...), payload fields
(``organisation_id``, ``subject_id``, ``job_id``, ``consent_id``) or its actor (a partner's
``api_key:<key id>``). ``declared_refs`` reads what the event itself says (pure);
``index_new_events`` completes it from the rows the event names (a job's organisation and
subject, a consent's, an API key's organisation...) and stores one ``audit_event_refs`` row per
sequenced event. The table is derived data: not hashed, rebuilt from the events if lost, and
brought up to date before every query (``catch up`` reads only events after its last row).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.db.models import (
    ApiKey,
    Artifact,
    Asset,
    AuditEventRef,
    AuditEventRow,
    Consent,
    Job,
    Subject,
    WebhookEndpoint,
)

INDEX_BATCH = 1000
_REF_FIELDS = ("organisation_id", "subject_id", "job_id")
# resource kind -> (table, its key column, its (organisation, subject, job) columns)
_LOOKUPS: dict[str, tuple[Any, Any, tuple[Any, Any, Any]]] = {
    "job": (Job, Job.id, (Job.organisation_id, Job.subject_id, Job.id)),
    "consent": (Consent, Consent.id, (Consent.organisation_id, Consent.subject_id, None)),
    "subject": (Subject, Subject.id, (Subject.organisation_id, Subject.id, None)),
    "artifact": (Artifact, Artifact.asset_id,
                 (Artifact.organisation_id, Artifact.subject_id, Artifact.job_id)),
    "api_key": (ApiKey, ApiKey.key_id, (ApiKey.organisation_id, None, None)),
    "asset": (Asset, Asset.id, (Asset.organisation_id, Asset.subject_id, None)),
    "webhook_endpoint": (WebhookEndpoint, WebhookEndpoint.id,
                         (WebhookEndpoint.organisation_id, None, None)),
}
_UUID_KEYED = frozenset({"job", "consent", "subject", "asset", "webhook_endpoint"})


@dataclass(frozen=True)
class EventRefs:
    organisation_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None

    def filled_from(self, other: EventRefs) -> EventRefs:
        """These refs, with the gaps taken from ``other``."""
        return EventRefs(*(getattr(self, name) or getattr(other, name) for name in _REF_FIELDS))


def declared_refs(resource: str, payload: Mapping[str, Any]) -> EventRefs:
    """What the event states itself: its resource and its payload's id fields."""
    kind, _, ident = resource.partition(":")
    own = {"organisation": "organisation_id", "subject": "subject_id", "job": "job_id"}
    values = {name: _uuid(payload.get(name)) for name in _REF_FIELDS}
    if kind in own and _uuid(ident) is not None:
        values[own[kind]] = _uuid(ident)
    return EventRefs(**values)


def _lookups_wanted(actor: str, resource: str, payload: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(kind, key) pairs whose rows may complete the event's refs, best first."""
    kind, _, ident = resource.partition(":")
    candidates = [(kind, ident)] if kind in _LOOKUPS else []
    candidates += [(name, payload.get(f"{name}_id")) for name in ("job", "consent", "subject")]
    actor_kind, _, actor_id = actor.partition(":")
    if actor_kind == "api_key":
        candidates.append(("api_key", actor_id))
    wanted = []
    for name, key in candidates:
        key = _uuid(key) if name in _UUID_KEYED else key
        if key:
            wanted.append((name, key))
    return wanted


def index_new_events(session: Session, *, batch: int = INDEX_BATCH) -> int:
    """Index every sequenced event not yet in ``audit_event_refs``; returns how many."""
    done = 0
    while True:
        last = session.scalar(select(func.max(AuditEventRef.seq))) or 0
        rows = session.execute(
            select(AuditEventRow.seq, AuditEventRow.actor, AuditEventRow.resource,
                   AuditEventRow.payload)
            .where(AuditEventRow.seq > last).order_by(AuditEventRow.seq).limit(batch)).all()
        if not rows:
            return done
        _store(session, [(row.seq, refs) for row, refs in zip(rows, _resolve(session, rows),
                                                               strict=True)])
        done += len(rows)


def _resolve(session: Session, rows: Sequence[Any]) -> list[EventRefs]:
    wanted = [_lookups_wanted(row.actor, row.resource, row.payload or {}) for row in rows]
    found = _fetch(session, (pair for pairs in wanted for pair in pairs))
    resolved = []
    for row, pairs in zip(rows, wanted, strict=True):
        refs = declared_refs(row.resource, row.payload or {})
        for pair in pairs:
            refs = refs.filled_from(found.get(pair, EventRefs()))
        resolved.append(refs)
    return resolved


def _fetch(session: Session, pairs: Iterable[tuple[str, Any]]) -> dict[tuple[str, Any], EventRefs]:
    by_kind: dict[str, set[Any]] = {}
    for kind, key in pairs:
        by_kind.setdefault(kind, set()).add(key)
    found: dict[tuple[str, Any], EventRefs] = {}
    for kind, keys in by_kind.items():
        _table, key_column, columns = _LOOKUPS[kind]
        selected = [key_column, *(c for c in columns if c is not None)]
        for row in session.execute(select(*selected).where(key_column.in_(keys))).all():
            values = iter(row[1:])
            refs = [next(values) if column is not None else None for column in columns]
            found[(kind, row[0])] = EventRefs(*refs)
    return found


def _store(session: Session, refs: list[tuple[int, EventRefs]]) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = [{"seq": seq, "organisation_id": r.organisation_id, "subject_id": r.subject_id,
               "job_id": r.job_id} for seq, r in refs]
    # A concurrent query may index the same events: the first row of each wins.
    session.execute(insert(AuditEventRef).values(values).on_conflict_do_nothing())


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None

