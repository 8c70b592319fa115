"""The outbox relay against a real broker (a private Redis): only committed entries are sent,
a broker that is down loses nothing, cancelled jobs are never sent, lost messages are sent
again, and relays in several processes do not send the same entry twice."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from service.db import AuditContext, make_session_factory, session_scope
from service.db.models import Job, JobState, OutboxEntry
from service.db.types import utcnow
from service.errors import ConsentRefused
from service.jobs import (
    RENDER_TASK,
    CeleryPublisher,
    OutboxRelay,
    cancel_job,
    maintain_once,
    make_celery,
    run_maintenance,
    submit_job,
    take_lease,
)
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.conftest import BACKENDS
from tests.service.jobs.conftest import (
    API,
    free_port,
    fresh_engine,
    seed_world,
    speech_wav,
    submit_committed,
)
from tests.service.jobs.gates import consent_table_gate

RESEND_AFTER_S = 60.0
SYSTEM = AuditContext(actor="system:test")


@pytest.fixture(scope="module", params=BACKENDS)
def sessions(request, postgres_database, tmp_path_factory):
    engine = fresh_engine(request.param, postgres_database, tmp_path_factory.mktemp("db"),
                          "likeness_test_outbox")
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def world(sessions, tmp_path_factory):
    with session_scope(sessions) as session:
        return seed_world(session, LocalBlobStore(tmp_path_factory.mktemp("blobs")),
                          speech_wav(0.5))


@pytest.fixture(autouse=True)
def _earlier_jobs_cancelled(sessions):
    """Tests share the module's database: earlier tests' queued jobs must not be due here."""
    with session_scope(sessions) as session:
        for job_id in session.scalars(select(Job.id).where(
                Job.state.in_([JobState.QUEUED, JobState.RUNNING]))):
            cancel_job(session, SYSTEM, job_id)


@pytest.fixture
def queue(private_redis):
    """The ``gpu`` queue of the private Redis, emptied before the test."""
    client = private_redis.client()
    client.delete("gpu")
    yield client
    client.close()


@pytest.fixture(scope="module")
def relay(sessions, private_redis, tmp_path_factory) -> OutboxRelay:
    app = make_celery(Settings(data_dir=tmp_path_factory.mktemp("data"),
                               broker_url=private_redis.url()))
    yield OutboxRelay(sessions, CeleryPublisher(app), resend_after_seconds=RESEND_AFTER_S)
    app.close()


@pytest.fixture(scope="module")
def dead_relay(sessions, tmp_path_factory) -> OutboxRelay:
    """A relay whose broker is a closed port."""
    app = make_celery(Settings(data_dir=tmp_path_factory.mktemp("data"),
                               broker_url=f"redis://127.0.0.1:{free_port()}/0"))
    yield OutboxRelay(sessions, CeleryPublisher(app), resend_after_seconds=RESEND_AFTER_S)
    app.close()


def _messages(queue) -> list[tuple[str, str, list]]:
    """(task name, task id, args) of every message waiting in the queue, oldest first."""
    found = []
    for raw in reversed(queue.lrange("gpu", 0, -1)):  # kombu pushes left, pops right
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        found.append((message["headers"]["task"], message["headers"]["id"], args))
    return found


def _entries(sessions, job_id) -> list[OutboxEntry]:
    with session_scope(sessions) as session:
        return list(session.scalars(select(OutboxEntry).where(OutboxEntry.job_id == job_id)
                                    .order_by(OutboxEntry.created_at)))


def test_a_committed_entry_is_sent_once_with_its_id_as_the_task_id(sessions, world, relay,
                                                                   queue):
    job_id, entry_id = submit_committed(sessions, world)
    report = relay.send_now([entry_id])
    assert report.sent == (job_id,) and report.failed is None
    assert _messages(queue) == [(RENDER_TASK, str(entry_id), [str(job_id)])]
    [entry] = _entries(sessions, job_id)
    assert entry.sent_at is not None and entry.attempts == 1 and entry.last_error is None
    assert relay.send_now([entry_id]).sent == () and relay.relay_once().sent == ()
    assert len(_messages(queue)) == 1


def test_a_rolled_back_submission_is_never_sent(sessions, world, relay, queue):
    with pytest.raises(ConsentRefused), session_scope(sessions) as session:
        submission = submit_job(session, API, organisation_id=world.organisation_id,
                                subject_id=world.subject_id, purpose="dubbing",
                                portrait_asset_id=world.portrait_id,
                                audio_asset_id=world.audio_id, controls={},
                                idempotency_key=None, gate=consent_table_gate,
                                transcript="Please bring me the blue map.")
        raise ConsentRefused("the request failed after the job was written", reason="test")
    assert relay.send_now([submission.outbox_entry_id]).sent == ()
    assert relay.relay_once().sent == () and _messages(queue) == []


def test_a_broker_that_is_down_loses_nothing(sessions, world, relay, dead_relay, queue):
    job_id, entry_id = submit_committed(sessions, world)
    report = dead_relay.send_now([entry_id])
    assert report.sent == () and report.failed == job_id and "unavailable" in report.error
    [entry] = _entries(sessions, job_id)
    assert entry.sent_at is None and entry.attempts == 1 and "connect" in entry.last_error.lower()
    assert dead_relay.relay_once().failed == job_id  # still due, still failing
    report = relay.relay_once()  # the broker is back
    assert report.sent == (job_id,)
    [entry] = _entries(sessions, job_id)
    assert entry.sent_at is not None and entry.attempts == 3 and entry.last_error is None
    assert [args for _, _, args in _messages(queue)] == [[str(job_id)]]


def test_entries_of_cancelled_jobs_are_never_sent(sessions, world, relay, queue):
    job_id, entry_id = submit_committed(sessions, world)
    with session_scope(sessions) as session:
        cancel_job(session, SYSTEM, job_id)
    assert relay.send_now([entry_id]).sent == () and relay.relay_once().sent == ()
    assert _messages(queue) == []


def test_a_job_still_queued_long_after_its_send_is_sent_again(sessions, world, relay, queue):
    job_id, entry_id = submit_committed(sessions, world)
    relay.send_now([entry_id])
    [entry] = _entries(sessions, job_id)
    soon = entry.sent_at + timedelta(seconds=RESEND_AFTER_S / 2)
    later = entry.sent_at + timedelta(seconds=RESEND_AFTER_S + 1)
    assert relay.relay_once(now=soon).sent == ()
    assert relay.relay_once(now=later).sent == (job_id,)  # the broker may have lost it
    assert [task_id for _, task_id, _ in _messages(queue)] == [str(entry_id)] * 2
    with session_scope(sessions) as session:  # once a worker has it, it is not sent again
        take_lease(session, SYSTEM, job_id, "worker-a", lease_seconds=30, max_attempts=3)
    far = later + timedelta(seconds=10 * RESEND_AFTER_S)
    assert relay.relay_once(now=far).sent == ()


def test_a_requeued_job_is_sent_through_its_newest_entry_only(sessions, world, relay, queue):
    job_id, entry_id = submit_committed(sessions, world)
    relay.send_now([entry_id])
    start = utcnow()
    with session_scope(sessions) as session:
        take_lease(session, SYSTEM, job_id, "worker-a", lease_seconds=1, max_attempts=3,
                   now=start)
    report = maintain_once(sessions, relay, max_attempts=3, context=SYSTEM,
                           now=start + timedelta(seconds=2))
    old, new = _entries(sessions, job_id)
    assert report.sent == (job_id,) and new.sent_at is not None and old.attempts == 1
    assert [task_id for _, task_id, _ in _messages(queue)] == [str(entry_id), str(new.id)]
    far = start + timedelta(seconds=10 * RESEND_AFTER_S)  # both stale: only the newest is due
    assert relay.relay_once(now=far).sent == (job_id,)
    assert [task_id for _, task_id, _ in _messages(queue)][2:] == [str(new.id)]
    with session_scope(sessions) as session:
        assert session.get(Job, job_id).state == JobState.QUEUED


@pytest.fixture(scope="module")
def pg_sessions(postgres_database, tmp_path_factory):
    engine = fresh_engine("postgresql", postgres_database, tmp_path_factory.mktemp("db"),
                          "likeness_test_outbox_locks")
    yield make_session_factory(engine)
    engine.dispose()


def test_relays_running_at_once_skip_each_others_entries(pg_sessions, private_redis, queue,
                                                         tmp_path):
    # PostgreSQL only: SQLite has one writer at a time, so two relays cannot overlap there.
    with session_scope(pg_sessions) as session:
        world = seed_world(session, LocalBlobStore(tmp_path / "blobs"), speech_wav(0.5))
    app = make_celery(Settings(data_dir=tmp_path, broker_url=private_redis.url()))
    relay = OutboxRelay(pg_sessions, CeleryPublisher(app), resend_after_seconds=RESEND_AFTER_S)
    try:
        first, first_entry = submit_committed(pg_sessions, world)
        second, _ = submit_committed(pg_sessions, world)
        with session_scope(pg_sessions) as holder:  # another relay is sending the first entry
            holder.execute(select(OutboxEntry).where(OutboxEntry.id == first_entry)
                           .with_for_update())
            assert relay.relay_once().sent == (second,)
        assert relay.relay_once().sent == (first,)
    finally:
        app.close()
    assert sorted(args[0] for _, _, args in _messages(queue)) == sorted([str(first),
                                                                          str(second)])


def test_the_maintenance_loop_sends_until_stopped(sessions, world, relay, queue):
    job_id, _ = submit_committed(sessions, world)
    stop = threading.Event()
    loop = threading.Thread(target=run_maintenance, kwargs={
        "sessions": sessions, "relay": relay, "max_attempts": 3, "interval_seconds": 0.05,
        "stop": stop})
    loop.start()
    try:
        deadline = utcnow() + timedelta(seconds=10)
        while not _messages(queue) and utcnow() < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(5)
    assert not loop.is_alive()
    assert [args for _, _, args in _messages(queue)] == [[str(job_id)]]
