"""The embedded default, as the README runs it: no PostgreSQL, no Redis. The database is a
SQLite file and the broker is kombu's SQLAlchemy transport on another, both in the data
directory; a real worker process consumes it and its maintenance thread relays the outbox, so
a committed job is rendered with nothing else running."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.db import make_engine, make_session_factory, session_scope
from service.db.migrate import upgrade_database
from service.db.models import Artifact, Job, JobState, OutboxEntry
from service.jobs import CeleryPublisher, OutboxRelay
from service.jobs.worker import EmbeddedWorker
from service.keys import init_development_keys
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.service.jobs.conftest import (
    WorkerProcess,
    seed_world,
    speech_wav,
    submit_committed,
    wait_for,
)
from tests.service.jobs.gates import consent_table_gate


@pytest.mark.slow
def test_a_job_is_rendered_over_the_database_broker(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.database_url.startswith("sqlite:///")
    assert settings.effective_broker_url == f"sqla+sqlite:///{tmp_path / 'data' / 'broker.db'}"
    init_development_keys(settings)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    worker = WorkerProcess("embedded", {"LIKENESS_DATA_DIR": str(settings.data_dir),
                                        "LIKENESS_DEVICE": "cpu",
                                        "LIKENESS_MAINTENANCE_INTERVAL_SECONDS": "0.5"},
                           tmp_path)
    try:
        with session_scope(sessions) as session:
            world = seed_world(session, LocalBlobStore(settings.blob_root), speech_wav(1.7))
        job_id, entry_id = submit_committed(sessions, world, controls={"steps": 2})
        worker.start()  # nothing was sent: the worker's own relay finds the entry

        def finished() -> bool:
            with session_scope(sessions) as session:
                return session.get(Job, job_id).state in (JobState.SUCCEEDED, JobState.FAILED)

        try:
            wait_for(finished, 120, "the job to finish")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; worker log:\n{worker.log()[-4000:]}") from None
    finally:
        worker.stop()
    with session_scope(sessions) as session:
        job = session.get(Job, job_id)
        assert job.state == JobState.SUCCEEDED, (job.error_code, job.error_message)
        assert session.get(OutboxEntry, entry_id).sent_at is not None
        [artifact] = session.scalars(select(Artifact).where(Artifact.job_id == job_id)).all()
        assert LocalBlobStore(settings.blob_root).exists(f"sha256/{artifact.sha256[:2]}/"
                                                         f"{artifact.sha256}")
    engine.dispose()


# kombu's SQLAlchemy transport maps a relationship with lazy="noload", deprecated by
# SQLAlchemy 2.1 (a warning, harmless here); warnings are errors in this process.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
@pytest.mark.slow
def test_an_embedded_worker_renders_in_this_process(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", maintenance_interval_seconds=0.5)
    init_development_keys(settings)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        world = seed_world(session, LocalBlobStore(settings.blob_root), speech_wav(1.7))
    with EmbeddedWorker(settings, consent_table_gate) as worker:
        job_id, entry_id = submit_committed(sessions, world, controls={"steps": 2})
        relay = OutboxRelay(sessions, CeleryPublisher(worker.app), resend_after_seconds=900)
        # The worker's own maintenance loop may relay the entry first; either way it is sent
        # exactly once and the send must not fail.
        report = relay.send_now([entry_id])
        assert report.failed is None and report.sent in ((job_id,), ())

        def finished() -> bool:
            with session_scope(sessions) as session:
                return session.get(Job, job_id).state in (JobState.SUCCEEDED, JobState.FAILED)

        wait_for(finished, 120, "the job to finish")
    with session_scope(sessions) as session:
        job = session.get(Job, job_id)
        assert job.state == JobState.SUCCEEDED, (job.error_code, job.error_message)
        assert len(session.scalars(select(Artifact).where(Artifact.job_id == job_id)).all()) == 1
    engine.dispose()
