"""Webhook events: thin payloads, queued as delivery rows in the caller's transaction.

A payload names what happened and to which resource, nothing more::

    {"type": "job.succeeded", "timestamp": "2026-11-26T10:00:00.123456+00:00",
     "data": {"job_id": "0193..."}}

The receiver fetches the job through the API with its own credentials. Thin events leak
nothing if a URL is mistyped or a secret stolen, and cannot go stale: the API is the truth.

``enqueue_job_event`` writes one delivery per matching endpoint (same organisation, same
environment, subscribed to the type) and only flushes: the rows commit or roll back with the
job's state change, like the outbox. ``deliver_due`` sends them later.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Job, WebhookDelivery, WebhookEndpoint
from service.db.types import utcnow
from service.errors import RequestInvalid

JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
JOB_CANCELLED = "job.cancelled"
JOB_EVENTS = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED)
# A consent request was decided (granted, sent to an officer, or rejected): data.request_id.
CONSENT_REQUEST_DECIDED = "consent_request.decided"
# An officer accepted or rejected a job portrait in the face-match band: data.review_id,
# data.subject_id, data.status (the partner then resubmits, or picks another portrait).
PORTRAIT_REVIEW_DECIDED = "portrait_review.decided"
CONSENT_EVENTS = (CONSENT_REQUEST_DECIDED, PORTRAIT_REVIEW_DECIDED)
SUBSCRIBABLE = (*JOB_EVENTS, *CONSENT_EVENTS)
TEST_EVENT = "webhook.test"  # sent on request to one endpoint, whatever it subscribed to


def thin_payload(event_type: str, now: datetime, **data: str) -> str:
    """The delivery body as it will be signed and sent (compact JSON, stable key order)."""
    return json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data},
                      separators=(",", ":"), sort_keys=True)


def check_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(SUBSCRIBABLE))
    if unknown or not event_types:
        raise RequestInvalid(f"subscribe to one or more of {', '.join(SUBSCRIBABLE)}",
                             field="event_types", unknown=unknown, known=list(SUBSCRIBABLE))
    return sorted(set(event_types))


def enqueue_job_event(session: Session, job: Job, event_type: str, *,
                      now: datetime | None = None) -> list[WebhookDelivery]:
    """Queue ``event_type`` about ``job`` for each of its organisation's endpoints."""
    if event_type not in JOB_EVENTS:
        raise ValueError(f"unknown job event {event_type!r}")  # a programming error
    now = now or utcnow()
    endpoints = session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.organisation_id == job.organisation_id,
        WebhookEndpoint.is_test == job.is_test, WebhookEndpoint.deleted_at.is_(None)))
    body = thin_payload(event_type, now, job_id=str(job.id))
    deliveries = [queue_delivery(session, endpoint.id, event_type, body, now, job_id=job.id)
                  for endpoint in endpoints if event_type in endpoint.event_types]
    session.flush()
    return deliveries


def enqueue_organisation_event(session: Session, *, organisation_id: uuid.UUID,
                               is_test: bool, event_type: str, now: datetime,
                               **data: str) -> list[WebhookDelivery]:
    """Queue a non-job event (``CONSENT_EVENTS``) for the organisation's subscribed endpoints."""
    if event_type not in CONSENT_EVENTS:
        raise ValueError(f"unknown event {event_type!r}")  # a programming error
    endpoints = session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.organisation_id == organisation_id,
        WebhookEndpoint.is_test == is_test, WebhookEndpoint.deleted_at.is_(None)))
    body = thin_payload(event_type, now, **data)
    deliveries = [queue_delivery(session, endpoint.id, event_type, body, now)
                  for endpoint in endpoints if event_type in endpoint.event_types]
    session.flush()
    return deliveries


def queue_delivery(session: Session, endpoint_id: uuid.UUID, event_type: str, body: str,
                   now: datetime, *, job_id: uuid.UUID | None = None) -> WebhookDelivery:
    delivery = WebhookDelivery(endpoint_id=endpoint_id, event_type=event_type, body=body,
                               job_id=job_id, next_attempt_at=now, created_at=now)
    session.add(delivery)
    return delivery
