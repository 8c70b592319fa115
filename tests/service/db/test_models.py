"""The models on both databases: UTC times, enum values and their CHECKs, JSON, bytes, keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from service.db import new_id
from service.db.models import (
    Artifact,
    Asset,
    AssetKind,
    Consent,
    ConsentStatus,
    Job,
    JobState,
    Organisation,
    OrganisationStatus,
    OutboxEntry,
    Subject,
)
from service.domain.face_templates import TemplateBox

T0 = datetime(2026, 11, 24, 9, 30, 15, 654321, tzinfo=UTC)
BOX = TemplateBox(bytes(range(32)))  # portraits' encodings are stored sealed


def _organisation(session: Session) -> Organisation:
    organisation = Organisation(name="Studio", declared_use_case="dubbing", created_at=T0)
    session.add(organisation)
    session.flush()
    return organisation


def _job_world(session: Session) -> Job:
    organisation = _organisation(session)
    subject = Subject(organisation_id=organisation.id, display_name="Ada", external_ref="c-1")
    session.add(subject)
    session.flush()
    consent = Consent(subject_id=subject.id, organisation_id=organisation.id,
                      purposes=["dubbing", "training-video"], expires_at=T0 + timedelta(days=30))
    encoding, portrait_id = np.linspace(-1, 1, 128, dtype=np.float32), new_id()
    portrait = Asset(id=portrait_id, organisation_id=organisation.id, subject_id=subject.id,
                     kind=AssetKind.PORTRAIT, sha256="a" * 64, size_bytes=5_000_000_000,
                     media_type="image/jpeg", storage_key=f"p/{uuid.uuid4()}",
                     face_encoding=BOX.seal_portrait(portrait_id, organisation.id, encoding))
    audio = Asset(organisation_id=organisation.id, kind=AssetKind.AUDIO, sha256="b" * 64,
                  size_bytes=10, media_type="audio/wav", storage_key=f"a/{uuid.uuid4()}")
    session.add_all([consent, portrait, audio])
    session.flush()
    job = Job(organisation_id=organisation.id, subject_id=subject.id, consent_id=consent.id,
              purpose="dubbing", portrait_asset_id=portrait.id, audio_asset_id=audio.id,
              controls={"emotion": "happy", "gaze": [0.1, -0.2]}, idempotency_key="req-1",
              request_hash="c" * 64)
    session.add(job)
    session.flush()
    return job


def test_times_come_back_aware_utc_and_exact(db_session: Session) -> None:
    plus_two = timezone(timedelta(hours=2))
    organisation = Organisation(name="Studio", declared_use_case="dubbing",
                                created_at=T0.astimezone(plus_two))
    db_session.add(organisation)
    db_session.flush()
    db_session.expire_all()
    loaded = db_session.get(Organisation, organisation.id)
    assert loaded is not None
    assert loaded.created_at == T0 and loaded.created_at.tzinfo is UTC


def test_naive_times_are_refused(db_session: Session) -> None:
    db_session.add(Organisation(name="S", declared_use_case="u", created_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()


def test_enums_store_values_and_the_database_checks_them(db_session: Session) -> None:
    organisation = _organisation(db_session)
    assert organisation.status == OrganisationStatus.PENDING
    stored = db_session.execute(text("SELECT status FROM organisations WHERE name = 'Studio'"))
    assert stored.scalar_one() == "pending"
    check = "ck_organisations_organisation_status"
    with pytest.raises(IntegrityError, match=check), db_session.begin_nested():
        db_session.execute(text("UPDATE organisations SET status = 'approved'"))


def test_a_job_world_round_trips(db_session: Session) -> None:
    job = _job_world(db_session)
    artifact = Artifact(asset_id="00c0ffee123456", job_id=job.id,
                        organisation_id=job.organisation_id, subject_id=job.subject_id,
                        consent_id=job.consent_id, sha256="d" * 64)
    db_session.add_all([artifact, OutboxEntry(job_id=job.id)])
    db_session.flush()
    db_session.expire_all()
    loaded = db_session.get(Job, job.id)
    assert loaded is not None
    assert loaded.state == JobState.QUEUED and loaded.progress == 0.0 and loaded.attempts == 0
    assert loaded.controls == {"emotion": "happy", "gaze": [0.1, -0.2]}
    assert loaded.artifact is not None and loaded.artifact.asset_id == "00c0ffee123456"
    consent = db_session.get(Consent, job.consent_id)
    assert consent is not None and consent.status == ConsentStatus.PENDING
    assert consent.purposes == ["dubbing", "training-video"]
    portrait = db_session.get(Asset, job.portrait_asset_id)
    assert portrait is not None and portrait.size_bytes == 5_000_000_000
    assert portrait.face_encoding is not None
    restored = BOX.open_portrait(portrait.id, portrait.organisation_id, portrait.face_encoding)
    assert np.array_equal(restored, np.linspace(-1, 1, 128, dtype=np.float32))
    outbox = db_session.scalars(select(OutboxEntry).where(OutboxEntry.job_id == job.id)).one()
    assert outbox.sent_at is None and outbox.created_at.tzinfo is UTC


def test_idempotency_keys_are_unique_per_organisation(db_session: Session) -> None:
    job = _job_world(db_session)
    duplicate = Job(organisation_id=job.organisation_id, subject_id=job.subject_id,
                    consent_id=job.consent_id, purpose="dubbing",
                    portrait_asset_id=job.portrait_asset_id, audio_asset_id=job.audio_asset_id,
                    controls={}, idempotency_key="req-1", request_hash="e" * 64)
    # PostgreSQL names the constraint; SQLite names the columns.
    unique = "uq_jobs_organisation_id_idempotency_key|jobs.organisation_id, jobs.idempotency_key"
    with pytest.raises(IntegrityError, match=unique), db_session.begin_nested():
        db_session.add(duplicate)
        db_session.flush()


def test_progress_outside_zero_one_is_refused(db_session: Session) -> None:
    job = _job_world(db_session)
    with pytest.raises(IntegrityError, match="ck_jobs_progress_range"), db_session.begin_nested():
        job.progress = 1.5
        db_session.flush()


def test_foreign_keys_are_enforced(db_session: Session) -> None:
    # SQLite only enforces them with PRAGMA foreign_keys=ON, which make_engine sets.
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(Subject(organisation_id=uuid.uuid4(), display_name="x"))
        db_session.flush()


def test_new_ids_are_uuid7_in_creation_order() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in ids)
    assert len(set(ids)) == 50
    millis = [value.int >> 80 for value in ids]
    assert millis == sorted(millis)
