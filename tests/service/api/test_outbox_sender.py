"""The API's batched after-commit sender over a real relay (PostgreSQL, a private Redis):
concurrent requests' entries are all sent, once each, before their ``send`` returns; a broker
that is down leaves them due without hanging the request; a closed sender still sends."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from service.api.outbox_sender import OutboxSender
from service.db import AuditContext, make_session_factory, session_scope
from service.db.models import Job, JobState, OutboxEntry
from service.jobs import CeleryPublisher, OutboxRelay, cancel_job, make_celery
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.service.jobs.conftest import (  # noqa: F401 (private_redis is a fixture)
    free_port,
    fresh_engine,
    private_redis,
    seed_world,
    speech_wav,
    submit_committed,
)

SYSTEM = AuditContext(actor="system:test")


@pytest.fixture(scope="module")
def sessions(postgres_database, tmp_path_factory):
    engine = fresh_engine("postgresql", postgres_database, tmp_path_factory.mktemp("db"),
                          "likeness_test_outbox_sender")
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def world(sessions, tmp_path_factory):
    with session_scope(sessions) as session:
        return seed_world(session, LocalBlobStore(tmp_path_factory.mktemp("blobs")),
                          speech_wav(0.5))


@pytest.fixture(autouse=True)
def _earlier_jobs_cancelled(sessions):
    with session_scope(sessions) as session:
        for job_id in session.scalars(select(Job.id).where(Job.state == JobState.QUEUED)):
            cancel_job(session, SYSTEM, job_id)


@pytest.fixture
def queue(private_redis):  # noqa: F811
    client = private_redis.client()
    client.delete("gpu")
    yield client
    client.close()


def _relay(sessions, broker_url: str, tmp_path) -> tuple[OutboxRelay, object]:
    app = make_celery(Settings(data_dir=tmp_path, broker_url=broker_url))
    return OutboxRelay(sessions, CeleryPublisher(app), resend_after_seconds=60.0), app


def _task_ids(queue) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in queue.lrange("gpu", 0, -1)]


def _entry(sessions, entry_id) -> OutboxEntry:
    with session_scope(sessions) as session:
        return session.get(OutboxEntry, entry_id)


async def _send_all(sender: OutboxSender, entry_ids) -> None:
    await asyncio.gather(*(sender.send([entry_id]) for entry_id in entry_ids))


def test_concurrent_requests_entries_are_sent_once_before_send_returns(
        sessions, world, private_redis, queue, tmp_path) -> None:  # noqa: F811
    relay, app = _relay(sessions, private_redis.url(), tmp_path)
    sender = OutboxSender(relay)
    try:
        entries = [submit_committed(sessions, world)[1] for _ in range(6)]
        asyncio.run(_send_all(sender, entries))
        # Every send has returned: every entry is marked sent and on the queue, once.
        assert all(_entry(sessions, entry_id).sent_at is not None for entry_id in entries)
        assert sorted(_task_ids(queue)) == sorted(str(entry_id) for entry_id in entries)
        asyncio.run(_send_all(sender, entries))  # already sent: nothing goes out again
        assert len(_task_ids(queue)) == len(entries)
        asyncio.run(sender.send([None]))  # a held job has no entry: nothing to do
    finally:
        sender.close()
        app.close()


def test_a_broker_that_is_down_leaves_the_entry_due(sessions, world, tmp_path) -> None:
    relay, app = _relay(sessions, f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    sender = OutboxSender(relay)
    try:
        _job_id, entry_id = submit_committed(sessions, world)
        asyncio.run(sender.send([entry_id]))  # returns: the request is not held up
        entry = _entry(sessions, entry_id)
        assert (entry.sent_at, entry.attempts) == (None, 1) and entry.last_error
    finally:
        sender.close()
        app.close()


def test_a_closed_sender_sends_from_the_caller(sessions, world, private_redis, queue,
                                               tmp_path) -> None:  # noqa: F811
    relay, app = _relay(sessions, private_redis.url(), tmp_path)
    sender = OutboxSender(relay)
    try:
        first = submit_committed(sessions, world)[1]
        asyncio.run(sender.send([first]))
        sender.close()  # the app shutting down: its thread ends
        second = submit_committed(sessions, world)[1]
        asyncio.run(sender.send([second]))
        assert sorted(_task_ids(queue)) == sorted([str(first), str(second)])
        assert _entry(sessions, second).sent_at is not None
    finally:
        app.close()

