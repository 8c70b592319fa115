"""Submitting a job: job + outbox + audit in one transaction, Stripe-style idempotency, the
consent gate's refusals on record, and inputs checked before anything is written."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from model.errors import ControlError
from policy.audit import Outcome
from policy.errors import ConsentRevoked
from service.audit.sequencer import sequence_pending
from service.db import AuditContext, make_session_factory, session_scope
from service.db.models import AssetKind, AuditEventRow, Job, JobState, OutboxEntry
from service.errors import (
    ConsentRefused,
    IdempotencyKeyReused,
    NotFound,
    RequestInvalid,
)
from service.jobs import submit_job
from service.storage import LocalBlobStore
from tests.service.jobs.conftest import T0, World, add_asset, seed_world, speech_wav
from tests.service.jobs.gates import consent_table_gate

API = AuditContext(actor="api_key:test", request_id="req-1")


@pytest.fixture(scope="module")
def audio() -> bytes:
    return speech_wav(0.5)


@pytest.fixture
def blobs(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def world(db_session: Session, blobs, audio) -> World:
    return seed_world(db_session, blobs, audio)


def _submit(session: Session, world: World, *, key: str | None = "key-1", controls=None,
            purpose: str = "dubbing", audio_id=None, gate=consent_table_gate, **extra):
    return submit_job(session, API, organisation_id=world.organisation_id,
                      subject_id=world.subject_id, purpose=purpose,
                      portrait_asset_id=world.portrait_id,
                      audio_asset_id=audio_id or world.audio_id,
                      controls={"steps": 2} if controls is None else controls,
                      idempotency_key=key, gate=gate, now=T0,
                      **({"transcript": "Please bring me the blue map."} | extra))


def _count(session: Session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def _events(session: Session, action: str) -> list[AuditEventRow]:
    sequence_pending(session)
    return list(session.scalars(select(AuditEventRow).where(AuditEventRow.action == action)
                                .order_by(AuditEventRow.seq)))


def test_a_job_its_outbox_entry_and_its_audit_event_are_written_together(db_session, world):
    submission = _submit(db_session, world, controls={"steps": 2, "emotion": "happy"})
    job = submission.job
    assert not submission.replayed and job.state == JobState.QUEUED and job.progress == 0
    assert job.consent_id == world.consent_id
    assert job.controls["emotion"] == "happy" and job.controls["gaze"] == [0.0, 0.0]
    assert len(job.request_hash) == 64 and job.attempts == 0
    entry = db_session.get(OutboxEntry, submission.outbox_entry_id)
    assert entry.job_id == job.id and entry.sent_at is None
    [event] = _events(db_session, "job:job:submit")
    assert event.resource == f"job:{job.id}" and event.outcome == Outcome.SUCCESS
    assert event.payload["consent_id"] == str(world.consent_id)
    assert event.payload["controls"] == job.controls and event.request_id == "req-1"


def test_same_key_and_same_request_returns_the_first_job(db_session, world):
    first = _submit(db_session, world, controls={"steps": 2})
    # The same request spelled differently (a default sent explicitly) is the same request.
    again = _submit(db_session, world, controls={"steps": 2, "emotion": "neutral"})
    assert again.replayed and again.job.id == first.job.id and again.outbox_entry_id is None
    assert _count(db_session, Job) == 1 and _count(db_session, OutboxEntry) == 1
    assert len(_events(db_session, "job:job:submit")) == 1


def test_a_replay_does_not_ask_the_gate_again(db_session, world):
    first = _submit(db_session, world)

    def refusing(_session, _request):
        raise AssertionError("the gate must not be asked on a replay")

    assert _submit(db_session, world, gate=refusing).job.id == first.job.id


@pytest.mark.parametrize("change", ["controls", "purpose", "audio", "test_mode"])
def test_same_key_with_a_different_request_is_refused(db_session, world, blobs, change):
    first = _submit(db_session, world)
    kwargs = {}
    if change == "controls":
        kwargs["controls"] = {"steps": 3}
    elif change == "purpose":
        kwargs["purpose"] = "education"
    elif change == "audio":
        kwargs["audio_id"] = add_asset(db_session, blobs, world.organisation_id, world.subject_id,
                                       AssetKind.AUDIO, speech_wav(0.4), "audio/wav").id
    else:
        kwargs["is_test"] = True
    with pytest.raises(IdempotencyKeyReused) as caught:
        _submit(db_session, world, **kwargs)
    assert caught.value.code == "idempotency_key_reused"
    assert caught.value.context["job_id"] == str(first.job.id)
    assert _count(db_session, Job) == 1


def test_without_a_key_every_submission_is_a_new_job(db_session, world):
    first, second = _submit(db_session, world, key=None), _submit(db_session, world, key=None)
    assert first.job.id != second.job.id and _count(db_session, OutboxEntry) == 2


def test_keys_are_scoped_to_the_organisation(db_session, world, blobs, audio):
    other = seed_world(db_session, blobs, audio)
    assert _submit(db_session, world).job.id != _submit(db_session, other).job.id


def test_a_refusal_is_audited_and_writes_no_job(db_session, world):
    with pytest.raises(ConsentRefused) as caught:
        _submit(db_session, world, purpose="advertising")
    assert caught.value.code == "consent_refused"
    assert caught.value.context["reason"] == "purpose_not_covered"
    assert _count(db_session, Job) == 0 and _count(db_session, OutboxEntry) == 0
    [event] = _events(db_session, "job:job:submit")
    assert event.outcome == Outcome.DENIED and event.payload["reason"] == "purpose_not_covered"
    assert event.resource == f"subject:{world.subject_id}"


def test_a_gate_that_raises_a_policy_error_is_a_refusal_with_its_code(db_session, world):
    def revoked(_session, _request):
        raise ConsentRevoked("the subject revoked consent on 2026-11-20")

    with pytest.raises(ConsentRefused) as caught:
        _submit(db_session, world, gate=revoked)
    assert caught.value.context["reason"] == "consent_revoked"


def test_the_gate_is_asked_about_this_request(db_session, world):
    asked = []

    def recording(session, request):
        asked.append(request)
        return consent_table_gate(session, request)

    _submit(db_session, world, gate=recording, is_test=True)
    [request] = asked
    assert (request.subject_id, request.portrait_asset_id, request.audio_asset_id) == (
        world.subject_id, world.portrait_id, world.audio_id)
    assert request.purpose == "dubbing" and request.is_test and request.stage == "submit"


def test_inputs_are_checked_before_anything_is_written(db_session, world, blobs, audio):
    other = seed_world(db_session, blobs, audio)
    with pytest.raises(NotFound):  # another partner's portrait is "not found"
        submit_job(db_session, API, organisation_id=world.organisation_id,
                   subject_id=world.subject_id, purpose="dubbing",
                   portrait_asset_id=other.portrait_id, audio_asset_id=world.audio_id,
                   controls={}, idempotency_key=None, gate=consent_table_gate, now=T0,
                   transcript="Please bring me the blue map.")
    with pytest.raises(RequestInvalid):  # the audio given as the portrait
        submit_job(db_session, API, organisation_id=world.organisation_id,
                   subject_id=world.subject_id, purpose="dubbing",
                   portrait_asset_id=world.audio_id, audio_asset_id=world.audio_id,
                   controls={}, idempotency_key=None, gate=consent_table_gate, now=T0,
                   transcript="Please bring me the blue map.")
    with pytest.raises(NotFound):
        submit_job(db_session, API, organisation_id=world.organisation_id,
                   subject_id=uuid.uuid4(), purpose="dubbing",
                   portrait_asset_id=world.portrait_id, audio_asset_id=world.audio_id,
                   controls={}, idempotency_key=None, gate=consent_table_gate, now=T0,
                   transcript="Please bring me the blue map.")
    with pytest.raises(ControlError):
        _submit(db_session, world, controls={"steps": 0})
    with pytest.raises(RequestInvalid):
        _submit(db_session, world, purpose="  ")
    with pytest.raises(RequestInvalid):
        _submit(db_session, world, key=" padded ")
    assert _count(db_session, Job) == 0 and not _events(db_session, "job:job:submit")


def test_concurrent_first_uses_of_a_key_make_one_job(db_engine: Engine, tmp_path, audio):
    sessions = make_session_factory(db_engine)
    with session_scope(sessions) as session:
        world = seed_world(session, LocalBlobStore(tmp_path / "blobs"), audio)
    key = f"race-{uuid.uuid4()}"
    second: list = []

    def other_request() -> None:
        with session_scope(sessions) as session:
            second.append(_submit(session, world, key=key))

    with session_scope(sessions) as session:
        first = _submit(session, world, key=key)
        racer = threading.Thread(target=other_request)
        racer.start()
        racer.join(0.5)  # it waits on our uncommitted row (PostgreSQL) or the write lock
        assert racer.is_alive()
    racer.join(30)
    [late] = second
    assert late.replayed and late.job.id == first.job.id
    with session_scope(sessions) as session:
        assert _count(session, Job, Job.idempotency_key == key) == 1
