"""Officers' queries and exports of the audit log (compliance officers only; others 403).

- ``GET /v1/audit/events``: filters ``since``/``until`` (ISO 8601 with a zone; ``until``
  exclusive), ``actor`` (exact: ``api_key:<id>``, ``user:<uuid>``...), ``organisation_id``,
  ``subject_id``, ``job_id``, ``action`` (a prefix of the ``source:subject:action`` tag, e.g.
  ``compliance:`` or ``job:job:``) and ``outcome``; ``order`` newest (default) or oldest;
  keyset pages of ``limit`` <= 500 events with ``cursor`` = the previous page's
  ``next_cursor``. Personal fields come opened, or ``[erased]`` once their person was erased.
- ``GET /v1/audit/export?format=jsonl|csv|ocsf`` with the same filters: streamed as a file.
  ``jsonl`` is the offline bundle (latest signed checkpoint + each event with its inclusion
  proof; personal fields stay sealed, as hashed) that ``likeness audit verify-bundle`` checks
  with the public key alone; ``csv`` flat rows; ``ocsf`` OCSF API Activity objects, one per
  line. Each export is itself an audit event (``compliance:audit:export``), committed before
  the first byte is sent.

Integrity checks and proofs live in ``service.api.routes.audit``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from policy.audit import Outcome
from service.api.deps import OfficerDep, ServicesDep, SessionDep, audit_context
from service.audit.export import MEDIA_TYPES, SUFFIXES, ExportFormat, export_chunks, start_export
from service.audit.log_keys import load_log_verifier
from service.audit.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    AuditFilter,
    AuditRecord,
    Order,
    query_events,
    refresh_log,
)

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEventPublic(BaseModel):
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    resource: str
    outcome: Outcome
    request_id: str | None
    client_address: str | None
    organisation_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    job_id: uuid.UUID | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, r: AuditRecord) -> AuditEventPublic:
        return cls(seq=r.seq, occurred_at=r.occurred_at, actor=r.actor, action=r.action,
                   resource=r.resource, outcome=r.outcome, request_id=r.request_id,
                   client_address=r.client_address, organisation_id=r.refs.organisation_id,
                   subject_id=r.refs.subject_id, job_id=r.refs.job_id, payload=r.payload,
                   prev_hash=r.prev_hash, hash=r.hash)


class AuditEventList(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: int | None


def audit_filter(
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    organisation_id: Annotated[uuid.UUID | None, Query()] = None,
    subject_id: Annotated[uuid.UUID | None, Query()] = None,
    job_id: Annotated[uuid.UUID | None, Query()] = None,
    action: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
) -> AuditFilter:
    return AuditFilter(since=since, until=until, actor=actor, organisation_id=organisation_id,
                       subject_id=subject_id, job_id=job_id, action=action, outcome=outcome)


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("/events", response_model=AuditEventList)
def list_events(session: SessionDep, services: ServicesDep, officer: OfficerDep, flt: FilterDep,
                order: Annotated[Order, Query()] = Order.NEWEST,
                cursor: Annotated[int | None, Query(ge=0)] = None,
                limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
                ) -> AuditEventList:
    refresh_log(session)
    page = query_events(session, flt, order=order, cursor=cursor, limit=limit,
                        keyring=services.audit_keyring)
    return AuditEventList(items=[AuditEventPublic.of(r) for r in page.records],
                          next_cursor=page.next_cursor)


@router.get("/export")
def export(request: Request, session: SessionDep, services: ServicesDep, officer: OfficerDep,
           flt: FilterDep, format: Annotated[ExportFormat, Query()]) -> StreamingResponse:
    verifier = load_log_verifier(services.settings) if format == ExportFormat.JSONL else None
    plan = start_export(session, audit_context(request, officer), format, flt,
                        verifier=verifier)
    name = f"audit-{plan.export_id}{SUFFIXES[plan.format]}"
    return StreamingResponse(
        export_chunks(services.sessions, plan, services.audit_keyring),
        media_type=MEDIA_TYPES[plan.format],
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "X-Content-Type-Options": "nosniff",
                 "X-Audit-Through-Seq": str(plan.through_seq),
                 "X-Audit-Export-Id": plan.export_id})
