"""Leases: which worker holds a running job, for how long, and what happens when it dies.

A worker takes a job with one conditional UPDATE (queued, or running with an expired lease ->
running, owned by a token unique to this attempt), so of two deliveries of the same task only
one runs it. While rendering, a ``LeaseKeeper`` thread renews the lease every heartbeat and
writes the progress; when its UPDATE matches nothing the job was cancelled or taken over, and
the next progress callback raises ``JobAborted`` between frames. Every later transition by the
worker is fenced on the same token, so a worker that stalled past its lease can no longer
complete or fail the job another worker now holds.

The reaper (``reap_expired_leases``) re-queues running jobs whose lease expired - a worker
killed mid-job is noticed in ``lease_seconds``, not the broker's visibility timeout - with a new
outbox entry for the relay, or fails them once ``max_attempts`` workers have died on them (a
poison job must not take the fleet down in a loop). Rows are locked ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so reapers in several processes never handle the same job twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from policy.audit import Outcome
from service.db.audit import AuditContext, record
from service.db.engine import session_scope
from service.db.models import Asset, Job, JobState, OutboxEntry
from service.db.types import utcnow
from service.errors import JobAborted

log = logging.getLogger(__name__)

ATTEMPTS_EXHAUSTED = "attempts_exhausted"


def new_lease_owner() -> str:
    """``host:pid:random``: unique per attempt, readable in the jobs table when debugging."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class AssetRef:
    id: uuid.UUID
    storage_key: str
    sha256: str
    media_type: str


@dataclass(frozen=True)
class JobTicket:
    """A job this worker holds the lease on, with everything its render needs."""

    job_id: uuid.UUID
    owner: str
    attempt: int
    organisation_id: uuid.UUID
    subject_id: uuid.UUID
    consent_id: uuid.UUID
    purpose: str
    is_test: bool
    controls: dict
    portrait: AssetRef
    audio: AssetRef
    # The declared transcript (``service.domain.transcripts``); None only for legacy jobs.
    transcript: str | None = None
    transcript_language: str | None = None
    transcript_sha256: str | None = None
    transcript_check: str | None = None


@dataclass(frozen=True)
class Claim:
    ticket: JobTicket | None  # None: not taken (see ``state``)
    state: JobState | None  # the job's state when not taken; None if there is no such job


def take_lease(session: Session, context: AuditContext, job_id: uuid.UUID, owner: str, *,
               lease_seconds: float, max_attempts: int, now: datetime | None = None) -> Claim:
    """Queued (or running with an expired lease) -> running under ``owner``, atomically."""
    now = now or utcnow()
    taken = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempts < max_attempts,
               or_(Job.state == JobState.QUEUED,
                   and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now)))
        .values(state=JobState.RUNNING, lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Job.attempts + 1, progress=0.0, started_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return Claim(None, None)
    if not taken:
        if job.state in (JobState.QUEUED, JobState.RUNNING) and job.attempts >= max_attempts:
            _exhaust(session, context, job, now)
        return Claim(None, job.state)
    record(session, context, "job:job:start", f"job:{job.id}", now=now,
           payload={"owner": owner, "attempt": job.attempts})
    portrait, audio = (session.get(Asset, job.portrait_asset_id),
                       session.get(Asset, job.audio_asset_id))
    ticket = JobTicket(job.id, owner, job.attempts, job.organisation_id, job.subject_id,
                       job.consent_id, job.purpose, job.is_test, dict(job.controls),
                       _ref(portrait), _ref(audio), job.transcript, job.transcript_language,
                       job.transcript_sha256, job.transcript_check)
    return Claim(ticket, JobState.RUNNING)


def _exhaust(session: Session, context: AuditContext, job: Job, now: datetime) -> None:
    # Only a queued job or one whose lease has expired: a live lease belongs to a live worker.
    if job.state == JobState.RUNNING and job.lease_expires_at and job.lease_expires_at >= now:
        return
    _fail_exhausted(session, context, job, now)


def _fail_exhausted(session: Session, context: AuditContext, job: Job, now: datetime) -> None:
    previous = job.state
    job.state = JobState.FAILED
    job.error_code = ATTEMPTS_EXHAUSTED
    job.error_message = f"{job.attempts} workers stopped while rendering this job"
    job.lease_owner, job.lease_expires_at, job.finished_at = None, None, now
    session.flush()
    record(session, context, "job:job:fail", f"job:{job.id}", outcome=Outcome.FAILURE, now=now,
           payload={"from": previous.value, "error_code": ATTEMPTS_EXHAUSTED,
                    "attempts": job.attempts})


def _ref(asset: Asset | None) -> AssetRef:
    if asset is None:  # foreign keys make this impossible short of manual surgery
        raise JobAborted("a job input asset row is missing", reason="asset_missing")
    return AssetRef(asset.id, asset.storage_key, asset.sha256, asset.media_type)


def release_lease(session: Session, context: AuditContext, ticket: JobTicket, *, reason: str,
                  now: datetime | None = None) -> bool:
    """Running -> queued by the lease holder (a transient error): the task's retry takes it."""
    now = now or utcnow()
    released = session.execute(
        update(Job).where(Job.id == ticket.job_id, Job.state == JobState.RUNNING,
                          Job.lease_owner == ticket.owner)
        .values(state=JobState.QUEUED, lease_owner=None, lease_expires_at=None, progress=0.0)
        .execution_options(synchronize_session=False)
    ).rowcount
    if released:
        record(session, context, "job:job:requeue", f"job:{ticket.job_id}", now=now,
               outcome=Outcome.FAILURE, payload={"owner": ticket.owner, "reason": reason})
    return bool(released)


def reap_expired_leases(session: Session, context: AuditContext, *, max_attempts: int,
                        now: datetime | None = None, limit: int = 100) -> list[uuid.UUID]:
    """Re-queue (or fail, after ``max_attempts``) running jobs whose lease has expired."""
    now = now or utcnow()
    jobs = session.execute(
        select(Job).where(Job.state == JobState.RUNNING, Job.lease_expires_at < now)
        .order_by(Job.lease_expires_at).limit(limit)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)
    ).scalars().all()
    for job in jobs:
        if job.attempts >= max_attempts:
            _fail_exhausted(session, context, job, now)
            continue
        previous_owner = job.lease_owner
        job.state, job.progress = JobState.QUEUED, 0.0
        job.lease_owner, job.lease_expires_at = None, None
        session.add(OutboxEntry(job_id=job.id, created_at=now, attempts=0))
        session.flush()
        record(session, context, "job:job:requeue", f"job:{job.id}", outcome=Outcome.FAILURE,
               now=now, payload={"owner": previous_owner, "reason": "lease_expired",
                                 "attempts": job.attempts})
    return [job.id for job in jobs]


class LeaseKeeper:
    """Renews a ticket's lease every heartbeat from a thread; ``report`` is the progress hook."""

    def __init__(self, sessions: sessionmaker[Session], ticket: JobTicket, *,
                 lease_seconds: float, heartbeat_seconds: float) -> None:
        self._sessions = sessions
        self._ticket = ticket
        self._lease = timedelta(seconds=lease_seconds)
        self._interval = heartbeat_seconds
        self._progress = 0.0
        self._lost: str | None = None  # "cancelled" / "lease_lost" once the UPDATE misses
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{ticket.job_id}",
                                        daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, done: int, total: int) -> None:
        """Called between frames: record progress, stop the render if the lease is gone."""
        self._progress = min(1.0, done / total) if total > 0 else 0.0
        if self._lost is not None:
            raise JobAborted(f"job {self._ticket.job_id} stopped: {self._lost}",
                             reason=self._lost, job_id=str(self._ticket.job_id))

    def beat(self) -> bool:
        """Renew once; False (and the reason kept for ``report``) if the lease is gone."""
        with session_scope(self._sessions) as session:
            renewed = session.execute(
                update(Job).where(Job.id == self._ticket.job_id, Job.state == JobState.RUNNING,
                                  Job.lease_owner == self._ticket.owner)
                .values(lease_expires_at=utcnow() + self._lease, progress=self._progress)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not renewed:
                state = session.execute(select(Job.state).where(Job.id == self._ticket.job_id)
                                        ).scalar_one_or_none()
                self._lost = "cancelled" if state == JobState.CANCELLED else "lease_lost"
        return bool(renewed)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self.beat():
                    return
            except SQLAlchemyError as exc:  # the database may come back before the lease ends
                log.warning("lease heartbeat for job %s failed: %s", self._ticket.job_id, exc)
