"""Shared pieces for the revocation, subject-page, erasure and minimisation tests: a partner, a
compliance officer, a subject with an approved consent, stored media (a real dlib encoding of a
real photo), jobs in chosen states and artifacts in the registry - written as rows, the way the
API and the workers leave them, on PostgreSQL and SQLite."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.auth import create_organisation, create_user, grant_role
from service.db import AuditContext
from service.db.models import (
    Artifact,
    Asset,
    AssetKind,
    AuditEventRow,
    Consent,
    ConsentStatus,
    Job,
    JobState,
    Role,
    Subject,
)
from service.domain.assets import Owner, new_asset_row
from service.domain.face_templates import TemplateBox
from service.domain.uploads import UploadLimits, ValidatedUpload, validate_portrait
from service.settings import Settings
from service.storage import BlobStore, LocalBlobStore
from tests.service.api.conftest import face

NOW = datetime.now(UTC).replace(microsecond=0)
SETUP = AuditContext(actor="system:test-setup")
OFFICER = AuditContext(actor="user:test-officer", request_id="req-officer")
TRANSCRIPT = "Please bring me the blue map."
TRANSCRIPT_SHA = "0" * 64  # stored as the job row says; these tests do not align audio
# The face template key the scenes seal reference portraits with.
FACE_BOX = TemplateBox(bytes(range(32)))


@pytest.fixture(scope="session")
def obama() -> ValidatedUpload:
    """A real portrait upload: its 128-D encoding is what the consent gate matches."""
    return validate_portrait(face("obama.jpg"), UploadLimits.from_settings(Settings()))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@dataclass
class Scene:
    organisation_id: uuid.UUID
    officer_id: uuid.UUID
    subject_id: uuid.UUID
    consent_id: uuid.UUID
    reference_id: uuid.UUID
    audio_id: uuid.UUID
    evidence_id: uuid.UUID


def make_scene(session: Session, store: BlobStore, portrait: ValidatedUpload, *,
               partner: str = "Dub Studio", expires_at: datetime | None = None) -> Scene:
    tag = secrets.token_hex(4)
    org = create_organisation(session, SETUP, name=partner, declared_use_case="dubbing")
    officer = create_user(session, SETUP, email=f"officer-{tag}@l.test", display_name="Officer")
    grant_role(session, SETUP, user_id=officer.id, role=Role.COMPLIANCE_OFFICER)
    subject = Subject(organisation_id=org.id, display_name="Ada Lovelace",
                      external_ref=f"contract-{tag}", created_at=NOW)
    session.add(subject)
    session.flush()
    owner = Owner(org.id, is_test=False)
    reference = new_asset_row(store, owner, portrait, subject_id=subject.id, now=NOW,
                              is_reference=True, box=FACE_BOX)
    session.add(reference)
    audio = add_asset(session, store, org.id, subject.id, AssetKind.AUDIO,
                      b"RIFF-speech-" + tag.encode(), "audio/wav")
    evidence = add_asset(session, store, org.id, subject.id, AssetKind.CONSENT_RECORDING,
                         b"RIFF-statement-" + tag.encode(), "audio/wav")
    consent = Consent(subject_id=subject.id, organisation_id=org.id,
                      status=ConsentStatus.APPROVED, purposes=["dubbing"],
                      expires_at=expires_at or NOW + timedelta(days=30), requested_at=NOW,
                      reviewed_at=NOW, reviewer_id=officer.id, evidence_asset_id=evidence.id)
    session.add(consent)
    session.flush()
    return Scene(org.id, officer.id, subject.id, consent.id, reference.id, audio.id,
                 evidence.id)


def add_asset(session: Session, store: BlobStore, organisation_id, subject_id,
              kind: AssetKind, data: bytes, media_type: str) -> Asset:
    blob = store.put_bytes(data)
    asset = Asset(organisation_id=organisation_id, subject_id=subject_id, kind=kind,
                  sha256=blob.sha256, size_bytes=blob.size_bytes, media_type=media_type,
                  storage_key=blob.key, created_at=NOW)
    session.add(asset)
    session.flush()
    return asset


def add_job(session: Session, scene: Scene, state: JobState, *,
            transcript: str = TRANSCRIPT, lease_owner: str | None = None) -> Job:
    job = Job(organisation_id=scene.organisation_id, subject_id=scene.subject_id,
              consent_id=scene.consent_id, purpose="dubbing",
              portrait_asset_id=scene.reference_id, audio_asset_id=scene.audio_id,
              controls={"steps": 2}, state=state, progress=0.0, attempts=0, created_at=NOW,
              transcript=transcript, transcript_language="en", transcript_sha256=TRANSCRIPT_SHA,
              transcript_check="pending", lease_owner=lease_owner,
              lease_expires_at=NOW + timedelta(minutes=5) if lease_owner else None)
    session.add(job)
    session.flush()
    return job


def add_artifact(session: Session, scene: Scene, job: Job | None, store: BlobStore) -> Artifact:
    video = store.put_bytes(b"MP4-video-" + secrets.token_bytes(8))
    artifact = Artifact(asset_id=secrets.token_hex(7), job_id=None if job is None else job.id,
                        organisation_id=scene.organisation_id, subject_id=scene.subject_id,
                        consent_id=scene.consent_id, sha256=video.sha256, created_at=NOW)
    session.add(artifact)
    session.flush()
    return artifact


def events(session: Session, resource: str | None = None) -> list[AuditEventRow]:
    """The sequenced audit events (optionally of one resource), oldest first."""
    sequence_pending(session)
    query = select(AuditEventRow).order_by(AuditEventRow.seq)
    if resource is not None:
        query = query.where(AuditEventRow.resource == resource)
    return list(session.scalars(query))


def encoding_of(upload: ValidatedUpload) -> np.ndarray:
    assert upload.face_encoding is not None
    return upload.face_encoding
