"""Transcripts and revocation with real parts end to end: PostgreSQL, a private Redis, a real
Celery worker process running the release path (model, watermark, H.264, C2PA).

The worker's lease heartbeat is set long (20 s) on purpose: a cancellation can then only stop
a running render through the worker's own check between motion windows, which is what the
running-job test shows. One worker serves the module (its model load costs seconds)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery.result import allow_join_result
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from policy.provenance import read_manifest
from service import keys
from service.audit.sequencer import sequence_pending
from service.cli import main
from service.db import AuditContext, make_engine, make_session_factory, session_scope
from service.db.migrate import upgrade_database
from service.db.models import Artifact, AssetKind, AuditEventRow, Job, JobState
from service.domain.revocation import RevokedBy, revoke
from service.errors import ConsentRefused
from service.jobs import CeleryPublisher, LikenessCelery, OutboxRelay, make_celery
from service.keys import init_development_keys
from service.settings import Settings
from service.storage import LocalBlobStore, blob_key
from tests.service.jobs.conftest import (
    FIRST_SENTENCE,
    TWO_SENTENCES,
    PrivateRedis,
    WorkerProcess,
    World,
    add_asset,
    private_redis,  # noqa: F401 (a fixture)
    seed_world,
    speech_wav,
    submit_committed,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow

OFFICER = AuditContext(actor="user:test-officer")
RENDER_TIMEOUT_S = 180


@dataclass(frozen=True)
class Stack:
    settings: Settings
    sessions: sessionmaker[Session]
    blobs: LocalBlobStore
    app: LikenessCelery
    relay: OutboxRelay
    worker: WorkerProcess

    def world(self, seconds: float = 1.7) -> World:
        with session_scope(self.sessions) as session:
            return seed_world(session, self.blobs, speech_wav(seconds))

    def job(self, job_id) -> Job:
        with session_scope(self.sessions) as session:
            return session.get(Job, job_id)

    def result(self, task_id) -> dict:
        with allow_join_result():
            return self.app.AsyncResult(str(task_id)).get(timeout=RENDER_TIMEOUT_S)

    def send(self, world: World, transcript: str, **kw) -> tuple[uuid.UUID, uuid.UUID]:
        job_id, entry_id = submit_committed(self.sessions, world, transcript=transcript, **kw)
        assert self.relay.send_now([entry_id]).sent == (job_id,)
        return job_id, entry_id

    def events(self, resource: str) -> list[AuditEventRow]:
        sequence_pending(self.sessions)
        with session_scope(self.sessions) as session:
            return list(session.scalars(select(AuditEventRow).where(
                AuditEventRow.resource == resource).order_by(AuditEventRow.seq)))


@pytest.fixture(scope="module")
def stack(postgres_database, private_redis: PrivateRedis,  # noqa: F811
          tmp_path_factory) -> Iterator[Stack]:
    data_dir, logs = tmp_path_factory.mktemp("reach-data"), tmp_path_factory.mktemp("logs")
    settings = Settings(data_dir=data_dir, database_url=postgres_database("likeness_test_reach"),
                        broker_url=private_redis.url(3), result_backend=private_redis.url(4))
    init_development_keys(settings)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    app = make_celery(settings)
    sessions = make_session_factory(engine)
    relay = OutboxRelay(sessions, CeleryPublisher(app), resend_after_seconds=900)
    env = worker_env(data_dir, settings.database_url, private_redis.url(3), private_redis.url(4),
                     lease_seconds="60", heartbeat_seconds="20")
    worker = WorkerProcess("reach", env, logs, "--no-maintenance").start()
    try:
        yield Stack(settings, sessions, LocalBlobStore(settings.blob_root), app, relay, worker)
    finally:
        worker.stop()
        app.close()
        engine.dispose()


@pytest.fixture(scope="module")
def released(stack: Stack) -> tuple[World, uuid.UUID, Artifact]:
    world = stack.world()
    job_id, entry_id = stack.send(world, FIRST_SENTENCE)
    outcome = stack.result(entry_id)
    assert outcome["outcome"] == "succeeded", (outcome, stack.worker.log()[-3000:])
    with session_scope(stack.sessions) as session:
        artifact = session.scalar(select(Artifact).where(Artifact.job_id == job_id))
    return world, job_id, artifact


def test_the_manifest_and_the_audit_trail_carry_the_transcript_hash(stack, released) -> None:
    _, job_id, artifact = released
    job = stack.job(job_id)
    assert job.transcript == FIRST_SENTENCE and job.transcript_check == "matched"
    assert len(job.transcript_sha256) == 64 and job.transcript_score is not None
    video = stack.blobs.path_for(blob_key(artifact.sha256))
    manifest = read_manifest(video, keys.trust_anchors(stack.settings))
    assert manifest.state == "Trusted"
    assert (manifest.transcript.sha256, manifest.transcript.language) == (
        job.transcript_sha256, "en")
    assert FIRST_SENTENCE.encode() not in video.read_bytes()
    events = {e.action: e.payload for e in stack.events(f"job:{job_id}")}
    assert events["job:job:submit"]["transcript_sha256"] == job.transcript_sha256
    assert events["job:job:succeed"]["transcript_sha256"] == job.transcript_sha256
    assert events["job:job:succeed"]["transcript_check"] == "matched"


def test_audio_that_does_not_say_the_transcript_is_refused(stack) -> None:
    world = stack.world()
    job_id, entry_id = stack.send(world, "Transfer all the money to my account today.")
    outcome = stack.result(entry_id)
    assert (outcome["outcome"], outcome["error_code"]) == ("failed", "transcript_mismatch")
    job = stack.job(job_id)
    assert job.state == JobState.FAILED and job.transcript_check == "mismatch"
    assert job.error_code == "transcript_mismatch" and "does not say" in job.error_message
    [failed] = [e for e in stack.events(f"job:{job_id}") if e.action == "job:job:fail"]
    assert failed.outcome.value == "denied" and failed.payload["error_code"] == \
        "transcript_mismatch"
    with session_scope(stack.sessions) as session:
        assert session.scalar(select(Artifact).where(Artifact.job_id == job_id)) is None


def test_words_the_aligner_cannot_check_are_held_for_an_officer(stack) -> None:
    world = stack.world()
    job_id, entry_id = stack.send(world, "Zorbly quexstrum vintabulous frampt.")
    outcome = stack.result(entry_id)
    assert (outcome["outcome"], outcome["error_code"]) == ("aborted",
                                                           "transcript_review_required")
    job = stack.job(job_id)
    assert job.state == JobState.AWAITING_REVIEW and job.transcript_check == "review_required"
    assert "job:transcript:hold" in [e.action for e in stack.events(f"job:{job_id}")]


def test_revocation_cancels_a_queued_job_and_refuses_new_ones(stack) -> None:
    world = stack.world()
    job_id, entry_id = submit_committed(stack.sessions, world, transcript=FIRST_SENTENCE)
    with session_scope(stack.sessions) as session:
        done = revoke(session, OFFICER, consent_id=world.consent_id, by=RevokedBy.OFFICER,
                      reason="the subject withdrew")
        assert done.cancelled_jobs == (job_id,)
    assert stack.relay.send_now([entry_id]).sent == ()  # a cancelled job is never sent
    in_flight = uuid.uuid4()  # a message already queued before the revocation
    CeleryPublisher(stack.app).publish(job_id, in_flight)
    assert stack.result(in_flight)["state"] == "cancelled"
    assert stack.job(job_id).attempts == 0
    with pytest.raises(ConsentRefused) as refused:
        submit_committed(stack.sessions, world, transcript=FIRST_SENTENCE)
    assert refused.value.context["reason"] == "consent_revoked"


def test_a_running_job_stops_between_windows(stack) -> None:
    world = stack.world()
    with session_scope(stack.sessions) as session:
        long_audio = add_asset(session, stack.blobs, world.organisation_id, world.subject_id,
                               AssetKind.AUDIO, speech_wav(4.2), "audio/wav").id
    job_id, entry_id = stack.send(world, TWO_SENTENCES, audio_id=long_audio,
                                  controls={"steps": 4, "seed": 2})
    # The transcript check is written just before the first frame is rendered.
    wait_for(lambda: stack.job(job_id).transcript_check == "matched", RENDER_TIMEOUT_S,
             "the render to start", interval=0.02)
    with session_scope(stack.sessions) as session:
        revoke(session, OFFICER, consent_id=world.consent_id, by=RevokedBy.OFFICER,
               reason="court order")
    outcome = stack.result(entry_id)
    assert (outcome["outcome"], outcome["error_code"]) == ("aborted", "cancelled"), outcome
    assert f"job {job_id} stopped between windows: cancelled" in stack.worker.log()
    job = stack.job(job_id)
    assert job.state == JobState.CANCELLED
    with session_scope(stack.sessions) as session:
        assert session.scalar(select(Artifact).where(Artifact.job_id == job_id)) is None


def test_an_issued_video_verifies_as_consent_revoked(stack, released, tmp_path: Path) -> None:
    world, _, artifact = released
    video = tmp_path / "issued.mp4"
    video.write_bytes(stack.blobs.path_for(blob_key(artifact.sha256)).read_bytes())
    with session_scope(stack.sessions) as session:
        revoked = revoke(session, OFFICER, consent_id=world.consent_id, by=RevokedBy.OFFICER,
                         reason="the subject withdrew")
        day = revoked.consent.revoked_at.date().isoformat()
    env = {"LIKENESS_DATABASE_URL": stack.settings.database_url}
    args = ["--data-dir", str(stack.settings.data_dir), "verify", str(video)]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1, result.output
    assert f"— consent revoked on {day}" in result.output.splitlines()[0]
    assert "signature intact" in result.output  # the file itself is fine: the consent is not
    as_json = CliRunner().invoke(main, [*args, "--json"], env=env)
    document = json.loads(as_json.output)
    assert document["verdict"]["code"] == "signed_intact"
    assert document["verdict"]["consent_notice"] == f"consent revoked on {day}"
    assert document["registry"]["consent_status"] == "revoked"
    assert document["c2pa"]["transcript"]["language"] == "en"

