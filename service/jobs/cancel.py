"""Cancelling a job: held for review, queued or running -> cancelled, at once, in the caller's
transaction.

The worker is not asked; it is told. A queued job's outbox entry is never sent (the relay sends
only entries of queued jobs) and a delivered task finds the job cancelled and skips it. A
running job loses its lease: the worker's next heartbeat UPDATE matches nothing, the render
stops between frames, and its completion - fenced on the lease - could not commit anyway. The
row is locked, so a cancel racing a completion is decided by whichever commits first: the
loser sees a finished job (``StateConflict``) or a lost lease.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import Job, JobState
from service.db.types import utcnow
from service.errors import NotFound, StateConflict
from service.webhooks.events import enqueue_job_event

CANCELLABLE = frozenset({JobState.AWAITING_REVIEW, JobState.QUEUED, JobState.RUNNING})


def cancel_job(session: Session, context: AuditContext, job_id: uuid.UUID, *,
               organisation_id: uuid.UUID | None = None, now: datetime | None = None) -> Job:
    """Cancel ``job_id`` (only within ``organisation_id`` when given: a partner's own jobs)."""
    job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None or (organisation_id is not None and job.organisation_id != organisation_id):
        raise NotFound(f"no job {job_id}", resource="job", id=str(job_id))
    if job.state not in CANCELLABLE:
        raise StateConflict(f"job {job_id} is already {job.state.value}", state=job.state.value)
    now = now or utcnow()
    previous, owner = job.state, job.lease_owner
    job.state = JobState.CANCELLED
    job.finished_at = now
    job.lease_owner, job.lease_expires_at = None, None
    session.flush()
    enqueue_job_event(session, job, "job.cancelled", now=now)
    record(session, context, "job:job:cancel", f"job:{job.id}", now=now,
           payload={"from": previous.value, "owner": owner})
    return job
