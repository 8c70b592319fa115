"""Cancelling: queued and running jobs stop at once (with an audit event); finished jobs and
other partners' jobs cannot be cancelled."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from service.audit.sequencer import sequence_pending
from service.db import AuditContext
from service.db.models import AuditEventRow, JobState
from service.errors import NotFound, StateConflict
from service.jobs import cancel_job, submit_job, take_lease
from service.storage import LocalBlobStore
from tests.service.jobs.conftest import T0, seed_world, speech_wav
from tests.service.jobs.gates import consent_table_gate

PARTNER = AuditContext(actor="api_key:test")


@pytest.fixture
def job(db_session, tmp_path):
    world = seed_world(db_session, LocalBlobStore(tmp_path / "blobs"), speech_wav(0.3))
    return submit_job(db_session, PARTNER, organisation_id=world.organisation_id,
                      subject_id=world.subject_id, purpose="dubbing",
                      portrait_asset_id=world.portrait_id, audio_asset_id=world.audio_id,
                      controls={}, idempotency_key=None, gate=consent_table_gate, now=T0,
                      transcript="Please bring me the blue map.").job


def _last_event(db_session) -> AuditEventRow:
    sequence_pending(db_session)
    return db_session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq.desc())).first()


def test_a_queued_job_is_cancelled(db_session, job):
    cancelled = cancel_job(db_session, PARTNER, job.id, organisation_id=job.organisation_id)
    assert cancelled.state == JobState.CANCELLED and cancelled.finished_at is not None
    event = _last_event(db_session)
    assert (event.action, event.resource) == ("job:job:cancel", f"job:{job.id}")
    assert event.payload == {"from": "queued", "owner": None}


def test_a_running_job_loses_its_lease(db_session, job):
    take_lease(db_session, PARTNER, job.id, "worker-a", lease_seconds=30, max_attempts=3)
    cancelled = cancel_job(db_session, PARTNER, job.id)
    assert cancelled.state == JobState.CANCELLED and cancelled.lease_owner is None
    assert _last_event(db_session).payload == {"from": "running", "owner": "worker-a"}


def test_a_finished_job_cannot_be_cancelled(db_session, job):
    cancel_job(db_session, PARTNER, job.id)
    with pytest.raises(StateConflict) as caught:
        cancel_job(db_session, PARTNER, job.id)
    assert caught.value.context["state"] == "cancelled"


def test_another_partners_job_is_not_found(db_session, job):
    with pytest.raises(NotFound):
        cancel_job(db_session, PARTNER, job.id, organisation_id=uuid.uuid4())
    with pytest.raises(NotFound):
        cancel_job(db_session, PARTNER, uuid.uuid4())
    assert db_session.get(type(job), job.id).state == JobState.QUEUED
