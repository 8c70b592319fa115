"""Leases: one holder at a time, renewed by a heartbeat that also notices cancellation, taken
over once expired, and dead workers' jobs re-queued (or failed after too many deaths)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from policy.audit import Outcome
from service.audit.sequencer import sequence_pending
from service.db import AuditContext, make_session_factory, session_scope
from service.db.models import AuditEventRow, Job, JobState, OutboxEntry
from service.db.types import utcnow
from service.errors import JobAborted
from service.jobs import cancel_job, reap_expired_leases, take_lease
from service.jobs.leases import LeaseKeeper, release_lease
from service.storage import LocalBlobStore
from tests.conftest import BACKENDS
from tests.service.jobs.conftest import (
    fresh_engine,
    seed_world,
    speech_wav,
    submit_committed,
)

WORKER = AuditContext(actor="system:worker:test")


@pytest.fixture(scope="module", params=BACKENDS)
def sessions(request, postgres_database, tmp_path_factory):
    engine = fresh_engine(request.param, postgres_database, tmp_path_factory.mktemp("db"),
                          "likeness_test_leases")
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def world(sessions, tmp_path_factory):
    with session_scope(sessions) as session:
        return seed_world(session, LocalBlobStore(tmp_path_factory.mktemp("blobs")),
                          speech_wav(0.5))


@pytest.fixture
def job_id(sessions, world):
    return submit_committed(sessions, world)[0]


def _take(sessions, job_id, owner, *, now=None, lease=30.0, max_attempts=3):
    with session_scope(sessions) as session:
        return take_lease(session, WORKER, job_id, owner, lease_seconds=lease,
                          max_attempts=max_attempts, now=now)


def _job(sessions, job_id) -> Job:
    with session_scope(sessions) as session:
        return session.get(Job, job_id)


def _actions(sessions, job_id) -> list[tuple[str, str]]:
    sequence_pending(sessions)
    with session_scope(sessions) as session:
        rows = session.scalars(select(AuditEventRow).where(
            AuditEventRow.resource == f"job:{job_id}").order_by(AuditEventRow.seq))
        return [(row.action, row.outcome.value) for row in rows]


def test_one_worker_holds_a_job_until_its_lease_expires(sessions, job_id, world):
    now = utcnow()
    claim = _take(sessions, job_id, "worker-a", now=now)
    ticket = claim.ticket
    assert ticket.owner == "worker-a" and ticket.attempt == 1
    assert ticket.portrait.id == world.portrait_id and ticket.controls["steps"] == 2
    job = _job(sessions, job_id)
    assert job.state == JobState.RUNNING and job.lease_owner == "worker-a"
    assert job.lease_expires_at == now + timedelta(seconds=30)
    # A second delivery while the lease is live does nothing.
    assert _take(sessions, job_id, "worker-b", now=now + timedelta(seconds=29)) == (
        type(claim)(None, JobState.RUNNING))
    # Expired (the worker died and no reaper ran yet): the next delivery takes it over.
    later = _take(sessions, job_id, "worker-b", now=now + timedelta(seconds=31))
    assert later.ticket.owner == "worker-b" and later.ticket.attempt == 2
    assert _actions(sessions, job_id) == [("job:job:submit", "success"),
                                          ("job:job:start", "success"),
                                          ("job:job:start", "success")]


def test_finished_or_unknown_jobs_are_not_taken(sessions, job_id):
    with session_scope(sessions) as session:
        cancel_job(session, WORKER, job_id)
    assert _take(sessions, job_id, "worker-a").state == JobState.CANCELLED
    claim = _take(sessions, uuid.uuid4(), "worker-a")
    assert claim.ticket is None and claim.state is None


def test_the_heartbeat_renews_the_lease_and_writes_progress(sessions, job_id):
    ticket = _take(sessions, job_id, "worker-a", lease=2.0).ticket
    first_expiry = _job(sessions, job_id).lease_expires_at
    with LeaseKeeper(sessions, ticket, lease_seconds=2.0, heartbeat_seconds=0.05) as keeper:
        keeper.report(5, 10)
        time.sleep(0.3)
    job = _job(sessions, job_id)
    assert job.lease_expires_at > first_expiry and job.progress == 0.5


def test_a_cancelled_job_stops_at_the_next_frame(sessions, job_id):
    ticket = _take(sessions, job_id, "worker-a").ticket
    keeper = LeaseKeeper(sessions, ticket, lease_seconds=30, heartbeat_seconds=15)
    keeper.report(1, 10)
    with session_scope(sessions) as session:
        cancel_job(session, AuditContext(actor="api_key:test"), job_id)
    assert keeper.beat() is False
    with pytest.raises(JobAborted) as caught:
        keeper.report(2, 10)
    assert caught.value.context["reason"] == "cancelled"
    job = _job(sessions, job_id)
    assert job.state == JobState.CANCELLED and job.lease_owner is None


def test_a_worker_whose_lease_was_taken_over_stops_and_cannot_hand_it_back(sessions, job_id):
    now = utcnow()
    stale = _take(sessions, job_id, "worker-a", now=now - timedelta(seconds=60)).ticket
    _take(sessions, job_id, "worker-b", now=now)
    keeper = LeaseKeeper(sessions, stale, lease_seconds=30, heartbeat_seconds=15)
    assert keeper.beat() is False
    with pytest.raises(JobAborted) as caught:
        keeper.report(1, 2)
    assert caught.value.context["reason"] == "lease_lost"
    with session_scope(sessions) as session:
        assert release_lease(session, WORKER, stale, reason="test") is False
    assert _job(sessions, job_id).lease_owner == "worker-b"


def test_the_holder_hands_a_job_back_on_a_transient_error(sessions, job_id):
    ticket = _take(sessions, job_id, "worker-a").ticket
    with session_scope(sessions) as session:
        assert release_lease(session, WORKER, ticket, reason="transient: db restarted")
    job = _job(sessions, job_id)
    assert job.state == JobState.QUEUED and job.lease_owner is None
    assert _actions(sessions, job_id)[-1] == ("job:job:requeue", "failure")


def test_the_reaper_requeues_expired_jobs_with_a_new_outbox_entry(sessions, job_id, world):
    live_job = submit_committed(sessions, world)[0]
    now = utcnow()
    _take(sessions, job_id, "worker-dead", now=now - timedelta(seconds=40))
    _take(sessions, live_job, "worker-alive", now=now)
    with session_scope(sessions) as session:
        reaped = reap_expired_leases(session, WORKER, max_attempts=3, now=now)
    assert job_id in reaped and live_job not in reaped
    job = _job(sessions, job_id)
    assert job.state == JobState.QUEUED and job.lease_owner is None and job.attempts == 1
    assert _job(sessions, live_job).lease_owner == "worker-alive"
    with session_scope(sessions) as session:
        entries = session.scalars(select(OutboxEntry).where(OutboxEntry.job_id == job_id)).all()
        assert len(entries) == 2 and sum(entry.sent_at is None for entry in entries) == 2
    assert _actions(sessions, job_id)[-1] == ("job:job:requeue", "failure")
    with session_scope(sessions) as session:  # nothing left to reap
        assert job_id not in reap_expired_leases(session, WORKER, max_attempts=3, now=now)


def test_a_job_that_killed_too_many_workers_fails(sessions, job_id):
    now = utcnow()
    for attempt, ago in enumerate((100, 60)):  # the second takes over the first's lapsed lease
        claim = _take(sessions, job_id, f"worker-{attempt}", now=now - timedelta(seconds=ago),
                      max_attempts=2)
        assert claim.ticket.attempt == attempt + 1
    with session_scope(sessions) as session:
        reap_expired_leases(session, WORKER, max_attempts=2, now=now)
    job = _job(sessions, job_id)
    assert job.state == JobState.FAILED and job.error_code == "attempts_exhausted"
    assert _actions(sessions, job_id)[-1] == ("job:job:fail", Outcome.FAILURE.value)


def test_a_delivery_after_the_last_attempt_fails_the_job_instead_of_running_it(sessions,
                                                                              job_id):
    now = utcnow()
    _take(sessions, job_id, "worker-0", now=now - timedelta(seconds=100), max_attempts=1)
    claim = _take(sessions, job_id, "worker-1", now=now, max_attempts=1)
    assert claim.ticket is None and claim.state == JobState.FAILED
    assert _job(sessions, job_id).error_code == "attempts_exhausted"
