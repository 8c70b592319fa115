"""End to end with real parts: PostgreSQL, a private Redis, real Celery worker processes running
the real release path (model, watermark, H.264, C2PA) on short clips.

One worker serves the module (started once: model load and imports cost seconds); the crash
test brings its own two on a separate Redis database, so killing one cannot disturb the rest.
The module worker runs without its maintenance thread, so what the relay sends is what the
tests send; the replacement worker in the crash test runs with it, as deployed, and recovers
the dead worker's job on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery.result import allow_join_result
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from service import keys
from service.audit.sequencer import sequence_pending
from service.db import AuditContext, make_engine, make_session_factory, session_scope
from service.db.audit import verify_audit_chain
from service.db.migrate import upgrade_database
from service.db.models import (
    Artifact,
    AssetKind,
    AuditEventRow,
    Consent,
    ConsentStatus,
    Job,
    JobState,
)
from service.jobs import (
    CeleryPublisher,
    LikenessCelery,
    OutboxRelay,
    cancel_job,
    make_celery,
)
from service.keys import init_development_keys
from service.release import verify_video
from service.release.verify import SIGNED_INTACT
from service.settings import Settings
from service.storage import LocalBlobStore, blob_key
from tests.service.jobs.conftest import (
    PrivateRedis,
    WorkerProcess,
    World,
    add_asset,
    seed_world,
    TWO_SENTENCES,
    speech_wav,
    submit_committed,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow

PARTNER = AuditContext(actor="api_key:test")
SHORT = {"steps": 2, "seed": 1}
LONG = {"steps": 4, "seed": 2}  # with the 4.2 s clip: long enough to be caught mid-render
RENDER_TIMEOUT_S = 120


@dataclass(frozen=True)
class Stack:
    settings: Settings  # the API side's settings (the workers read the same from LIKENESS_*)
    sessions: sessionmaker[Session]
    blobs: LocalBlobStore
    app: LikenessCelery
    relay: OutboxRelay
    world: World
    long_audio: uuid.UUID
    silent_audio: uuid.UUID
    redis: PrivateRedis
    worker: WorkerProcess
    logs: Path

    def env(self, broker_db: int) -> dict[str, str]:
        return worker_env(self.settings.data_dir, self.settings.database_url,
                          self.redis.url(broker_db), self.redis.url(1))


@pytest.fixture(scope="module")
def stack(postgres_database, private_redis, tmp_path_factory) -> Iterator[Stack]:
    data_dir, logs = tmp_path_factory.mktemp("likeness-data"), tmp_path_factory.mktemp("logs")
    settings = Settings(data_dir=data_dir, database_url=postgres_database("likeness_test_worker"),
                        broker_url=private_redis.url(0), result_backend=private_redis.url(1))
    init_development_keys(settings)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    blobs = LocalBlobStore(settings.blob_root)
    with session_scope(sessions) as session:
        world = seed_world(session, blobs, speech_wav(1.7))
        long_audio, silent_audio = (
            add_asset(session, blobs, world.organisation_id, world.subject_id, AssetKind.AUDIO,
                      data, "audio/wav").id
            for data in (speech_wav(4.2), speech_wav(1.0, silent=True)))
    app = make_celery(settings)
    relay = OutboxRelay(sessions, CeleryPublisher(app), resend_after_seconds=900)
    worker = WorkerProcess("w0", worker_env(data_dir, settings.database_url,
                                            private_redis.url(0), private_redis.url(1)),
                           logs, "--no-maintenance")
    worker.start()
    try:
        yield Stack(settings, sessions, blobs, app, relay, world, long_audio, silent_audio,
                    private_redis, worker, logs)
    finally:
        worker.stop()
        app.close()
        engine.dispose()


def _job(stack: Stack, job_id) -> Job:
    with session_scope(stack.sessions) as session:
        return session.get(Job, job_id)


def _wait_state(stack: Stack, job_id, *states: JobState, worker: WorkerProcess | None = None,
                timeout: float = RENDER_TIMEOUT_S) -> Job:
    try:
        wait_for(lambda: _job(stack, job_id).state in states, timeout,
                 f"job {job_id} to reach {[s.value for s in states]}", interval=0.02)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; worker log:\n{(worker or stack.worker).log()[-4000:]}")
    return _job(stack, job_id)


def _result(stack: Stack, task_id) -> dict:
    # An in-process worker earlier in the session marks this process a worker, where Celery
    # refuses blocking joins; this process is only a client waiting for a test's outcome.
    with allow_join_result():
        return stack.app.AsyncResult(str(task_id)).get(timeout=RENDER_TIMEOUT_S)


def _artifacts(stack: Stack, job_id) -> list[Artifact]:
    with session_scope(stack.sessions) as session:
        return list(session.scalars(select(Artifact).where(Artifact.job_id == job_id)))


def _actions(stack: Stack, job_id) -> list[tuple[str, str]]:
    sequence_pending(stack.sessions)
    with session_scope(stack.sessions) as session:
        rows = session.scalars(select(AuditEventRow).where(
            AuditEventRow.resource == f"job:{job_id}").order_by(AuditEventRow.seq))
        return [(row.action, row.outcome.value) for row in rows]


def _submit_and_send(stack: Stack, controls=SHORT, audio_id=None, world=None,
                     transcript=None):
    job_id, entry_id = submit_committed(stack.sessions, world or stack.world, controls=controls,
                                        audio_id=audio_id, transcript=transcript)
    assert stack.relay.send_now([entry_id]).sent == (job_id,)
    return job_id, entry_id


@pytest.fixture(scope="module")
def rendered(stack: Stack):
    job_id, entry_id = _submit_and_send(stack)
    _wait_state(stack, job_id, JobState.SUCCEEDED, JobState.FAILED)
    return job_id, entry_id


def test_a_job_is_rendered_once_and_registered_under_its_watermark(stack, rendered):
    job_id, entry_id = rendered
    outcome = _result(stack, entry_id)
    job = _job(stack, job_id)
    assert job.state == JobState.SUCCEEDED, (job.error_code, job.error_message)
    assert outcome["outcome"] == "succeeded" and job.progress == 1.0 and job.attempts == 1
    assert job.lease_owner is None and job.finished_at >= job.started_at
    [artifact] = _artifacts(stack, job_id)
    assert artifact.asset_id == outcome["asset_id"]
    assert (artifact.organisation_id, artifact.subject_id, artifact.consent_id) == (
        stack.world.organisation_id, stack.world.subject_id, stack.world.consent_id)
    # The stored file is the released one: its pixels carry the registered asset id.
    path = stack.blobs.path_for(blob_key(artifact.sha256))
    report = verify_video(path, keys.watermark_key(stack.settings),
                          keys.trust_anchors(stack.settings))
    assert report.verdict_code == SIGNED_INTACT and report.file.sha256 == artifact.sha256
    assert report.watermark.payload.asset_hex == artifact.asset_id == report.manifest.asset_id
    assert _actions(stack, job_id) == [("job:job:submit", "success"),
                                       ("job:job:start", "success"),
                                       ("job:job:succeed", "success")]


def test_a_redelivered_task_makes_no_second_artifact(stack, rendered):
    job_id, _ = rendered
    again = uuid.uuid4()
    CeleryPublisher(stack.app).publish(job_id, again)  # as a broker re-delivery would
    assert _result(stack, again) == {"job_id": str(job_id), "outcome": "skipped",
                                     "state": "succeeded", "asset_id": None, "error_code": None}
    assert len(_artifacts(stack, job_id)) == 1 and _job(stack, job_id).attempts == 1


def test_a_cancelled_queued_job_is_never_rendered(stack):
    job_id, entry_id = submit_committed(stack.sessions, stack.world, controls=SHORT)
    with session_scope(stack.sessions) as session:
        cancel_job(session, PARTNER, job_id, organisation_id=stack.world.organisation_id)
    assert stack.relay.send_now([entry_id]).sent == ()
    in_flight = uuid.uuid4()  # a message already on the queue when the job was cancelled
    CeleryPublisher(stack.app).publish(job_id, in_flight)
    outcome = _result(stack, in_flight)
    assert (outcome["outcome"], outcome["state"]) == ("skipped", "cancelled")
    assert _job(stack, job_id).attempts == 0 and _artifacts(stack, job_id) == []


def test_a_running_job_is_cancelled_between_frames(stack):
    job_id, entry_id = _submit_and_send(stack, controls=LONG, audio_id=stack.long_audio,
                                        transcript=TWO_SENTENCES)
    _wait_state(stack, job_id, JobState.RUNNING)
    with session_scope(stack.sessions) as session:
        cancel_job(session, PARTNER, job_id)
    outcome = _result(stack, entry_id)
    assert (outcome["outcome"], outcome["error_code"]) == ("aborted", "cancelled")
    job = _job(stack, job_id)
    assert job.state == JobState.CANCELLED and _artifacts(stack, job_id) == []
    assert [action for action, _ in _actions(stack, job_id)] == [
        "job:job:submit", "job:job:start", "job:job:cancel"]


def test_bad_input_fails_the_job_with_its_code(stack):
    silent_job, silent_entry = _submit_and_send(stack, audio_id=stack.silent_audio)
    with session_scope(stack.sessions) as session:  # an input whose blob has gone
        data = speech_wav(0.8)
        lost = add_asset(session, stack.blobs, stack.world.organisation_id,
                         stack.world.subject_id, AssetKind.AUDIO, data, "audio/wav")
        stack.blobs.delete(lost.storage_key)
    lost_job, lost_entry = _submit_and_send(stack, audio_id=lost.id)
    for job_id, entry_id, code in ((silent_job, silent_entry, "audio_silent"),
                                   (lost_job, lost_entry, "blob_missing")):
        outcome = _result(stack, entry_id)
        assert (outcome["outcome"], outcome["error_code"]) == ("failed", code)
        job = _job(stack, job_id)
        assert job.state == JobState.FAILED and job.error_code == code and job.error_message
        assert _actions(stack, job_id)[-1] == ("job:job:fail", "failure")
        assert _artifacts(stack, job_id) == []


def test_consent_revoked_while_queued_stops_the_job(stack):
    with session_scope(stack.sessions) as session:
        world = seed_world(session, stack.blobs, speech_wav(1.7))
    job_id, entry_id = submit_committed(stack.sessions, world, controls=SHORT)
    with session_scope(stack.sessions) as session:
        session.execute(update(Consent).where(Consent.id == world.consent_id)
                        .values(status=ConsentStatus.REVOKED))
    stack.relay.send_now([entry_id])
    outcome = _result(stack, entry_id)
    assert (outcome["outcome"], outcome["error_code"]) == ("failed", "consent_revoked")
    assert _actions(stack, job_id)[-1] == ("job:job:fail", "denied")
    assert _artifacts(stack, job_id) == []


def test_a_job_submitted_while_the_broker_is_down_is_rendered_once_it_is_back(stack):
    stack.redis.stop()
    try:
        job_id, entry_id = submit_committed(stack.sessions, stack.world, controls=SHORT)
        report = stack.relay.send_now([entry_id])
        assert report.sent == () and report.failed == job_id
        job = _job(stack, job_id)
        assert job.state == JobState.QUEUED  # accepted, and not lost
    finally:
        stack.redis.start()
    # The periodic relay sends it as soon as the broker answers again.
    wait_for(lambda: stack.relay.relay_once().sent == (job_id,), 30, "the relay to send")
    job = _wait_state(stack, job_id, JobState.SUCCEEDED, JobState.FAILED)
    assert job.state == JobState.SUCCEEDED and len(_artifacts(stack, job_id)) == 1


def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes_once(stack):
    # Broker database 2: these two workers and this publisher only, away from the module's.
    settings = stack.settings.model_copy(update={"broker_url": stack.redis.url(2)})
    app = make_celery(settings)
    relay = OutboxRelay(stack.sessions, CeleryPublisher(app), resend_after_seconds=900)
    doomed = WorkerProcess("doomed", stack.env(2), stack.logs, "--no-maintenance").start()
    replacement = WorkerProcess("replacement", stack.env(2), stack.logs)
    try:
        job_id, entry_id = submit_committed(stack.sessions, stack.world, controls=LONG,
                                            audio_id=stack.long_audio,
                                            transcript=TWO_SENTENCES)
        relay.send_now([entry_id])
        running = _wait_state(stack, job_id, JobState.RUNNING, worker=doomed)
        assert running.lease_owner.split(":")[1] == str(doomed.process.pid)
        doomed.kill()
        assert _job(stack, job_id).state == JobState.RUNNING  # nobody knows yet
        replacement.start()  # its maintenance thread reaps the expired lease and re-sends
        job = _wait_state(stack, job_id, JobState.SUCCEEDED, JobState.FAILED,
                          worker=replacement)
    finally:
        doomed.kill()
        replacement.stop()
        app.close()
    assert job.state == JobState.SUCCEEDED and job.attempts == 2
    assert len(_artifacts(stack, job_id)) == 1
    actions = _actions(stack, job_id)
    assert [action for action, _ in actions] == [
        "job:job:submit", "job:job:start", "job:job:requeue", "job:job:start", "job:job:succeed"]
    with session_scope(stack.sessions) as session:
        starts = session.scalars(select(AuditEventRow.payload).where(
            AuditEventRow.resource == f"job:{job_id}", AuditEventRow.action == "job:job:start")
            .order_by(AuditEventRow.seq)).all()
        assert starts[1]["owner"].split(":")[1] == str(replacement.process.pid)
        assert verify_audit_chain(session).ok
        assert session.scalar(select(func.count()).select_from(Artifact)) == len(
            set(session.scalars(select(Artifact.job_id))))
