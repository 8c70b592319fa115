"""The outbox relay: sends committed outbox entries to the broker, and keeps trying.

``submit_job`` and the lease reaper write an outbox entry in the same transaction as the job
change; the relay sends it afterwards. The relay reads entries in its own transaction, so it can
only ever send what has committed. Two ways in:

- ``send_now(ids)`` right after the caller's commit: the common case, a task on the queue
  within milliseconds of the API's answer;
- ``relay_once()`` periodically (``run_maintenance``): entries never sent (the broker was down
  at submission, the process died between commit and send) and entries sent long ago whose job
  is still queued (a broker without persistence lost the message). Only entries of *queued*
  jobs are due, and of those only the newest per job, so a cancelled job is never sent and a
  re-queued job is not sent twice.

Entries are locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises writers), so
relays in several processes share the work without sending an entry twice in one round. A send
that fails stops the round (the broker is down: the rest would fail too, each after its own
timeout); the entry keeps ``attempts`` and ``last_error`` and is due again next round. A
duplicate message - sent, then the commit marking it sent failed - is harmless: the task takes
a lease before doing anything.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from service.db.audit import AuditContext
from service.db.engine import session_scope
from service.db.models import Job, JobState, OutboxEntry
from service.db.types import utcnow
from service.errors import BrokerUnavailable
from service.jobs.leases import reap_expired_leases

log = logging.getLogger(__name__)

MAINTENANCE = AuditContext(actor="system:maintenance")
RELAY_BATCH = 100
MAX_ERROR_CHARS = 2000


class Publisher(Protocol):
    def publish(self, job_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        """Put the job's task on the queue; ``BrokerUnavailable`` if the broker cannot take it."""
        ...


@dataclass(frozen=True)
class RelayReport:
    sent: tuple[uuid.UUID, ...]  # job ids
    failed: uuid.UUID | None  # the job whose send failed (the round stopped there)
    error: str | None


class OutboxRelay:
    def __init__(self, sessions: sessionmaker[Session], publisher: Publisher, *,
                 resend_after_seconds: float) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._resend_after = timedelta(seconds=resend_after_seconds)

    def send_now(self, entry_ids: Sequence[uuid.UUID | None]) -> RelayReport:
        """Send these entries (after the commit that wrote them). Never raises for a broker
        that is down: the entries stay due and the periodic relay sends them later."""
        ids = [entry_id for entry_id in entry_ids if entry_id is not None]
        if not ids:
            return RelayReport((), None, None)
        return self._round(ids, utcnow())

    def relay_once(self, now: datetime | None = None) -> RelayReport:
        """One periodic round over every due entry (up to ``RELAY_BATCH``)."""
        return self._round(None, now or utcnow())

    def _round(self, only: list[uuid.UUID] | None, now: datetime) -> RelayReport:
        sent: list[uuid.UUID] = []
        with session_scope(self._sessions) as session:
            for entry in self._due(session, only, now):
                try:
                    self._publisher.publish(entry.job_id, entry.id)
                except BrokerUnavailable as exc:
                    entry.attempts += 1
                    entry.last_error = str(exc)[:MAX_ERROR_CHARS]
                    log.warning("outbox: job %s not sent (%s); will retry", entry.job_id, exc)
                    return RelayReport(tuple(sent), entry.job_id, entry.last_error)
                entry.attempts += 1
                entry.sent_at = utcnow()
                entry.last_error = None
                sent.append(entry.job_id)
        return RelayReport(tuple(sent), None, None)

    def _due(self, session: Session, only: list[uuid.UUID] | None,
             now: datetime) -> Sequence[OutboxEntry]:
        newer = aliased(OutboxEntry)
        query = (
            select(OutboxEntry).join(Job, Job.id == OutboxEntry.job_id)
            .where(Job.state == JobState.QUEUED,
                   ~exists().where(newer.job_id == OutboxEntry.job_id,
                                   newer.created_at > OutboxEntry.created_at))
            .order_by(OutboxEntry.created_at).limit(RELAY_BATCH)
            .with_for_update(skip_locked=True, of=OutboxEntry)
            .execution_options(populate_existing=True)
        )
        if only is not None:
            query = query.where(OutboxEntry.id.in_(only), OutboxEntry.sent_at.is_(None))
        else:
            query = query.where(or_(OutboxEntry.sent_at.is_(None),
                                    OutboxEntry.sent_at < now - self._resend_after))
        return session.execute(query).scalars().all()


def maintain_once(sessions: sessionmaker[Session], relay: OutboxRelay, *, max_attempts: int,
                  context: AuditContext, now: datetime | None = None) -> RelayReport:
    """One maintenance round: re-queue jobs whose worker died, then send what is due."""
    with session_scope(sessions) as session:
        reaped = reap_expired_leases(session, context, max_attempts=max_attempts, now=now)
    if reaped:
        log.info("re-queued %d job(s) whose lease expired", len(reaped))
    return relay.relay_once(now)


def run_maintenance(sessions: sessionmaker[Session], relay: OutboxRelay, *, max_attempts: int,
                    interval_seconds: float, stop: threading.Event,
                    context: AuditContext = MAINTENANCE,
                    also: Callable[[], object] | None = None) -> None:
    """``maintain_once`` (then ``also``, e.g. webhook delivery) every ``interval_seconds`` until
    ``stop`` is set (a thread's body)."""
    while not stop.is_set():
        try:
            maintain_once(sessions, relay, max_attempts=max_attempts, context=context)
            if also is not None:
                also()
        except Exception:  # a database outage must not end the loop; log and try again
            log.exception("outbox/lease maintenance round failed")
        stop.wait(interval_seconds)
