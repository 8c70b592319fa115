"""Erasing a subject (PostgreSQL and SQLite): biometric data, media, released videos' bytes and
names go; the consents are closed with every revocation effect; the audit trail keeps only the
pseudonymous id, its personal fields become unreadable, and its chain still verifies."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.personal import ERASED, AuditKeyring, PayloadOpener, seal_fields
from service.auth import create_user, grant_role
from service.db.audit import record, verify_audit_chain
from service.db.models import (
    Artifact,
    Asset,
    AuditPersonalKey,
    Consent,
    ConsentStatus,
    FaceTemplate,
    Job,
    JobState,
    Role,
    Subject,
    SubjectLink,
)
from service.domain.erasure import ERASED_NAME, erase_subject
from service.domain.face_templates import TemplateBox, store_template
from service.domain.registry import ConsentStanding, lookup_artifact
from service.domain.subject_links import issue_subject_link
from service.errors import RoleMissing, StateConflict
from tests.service.revocation.conftest import (
    NOW,
    OFFICER,
    add_artifact,
    add_job,
    encoding_of,
    events,
    make_scene,
)

KEYRING = AuditKeyring(bytes(range(32, 64)))


def test_erasure_removes_biometrics_media_and_names(db_session: Session, store, obama) -> None:
    scene = make_scene(db_session, store, obama)
    context = dataclasses.replace(OFFICER, keyring=KEYRING)
    # Before: a personal field sealed in an event, a template, a link, jobs and a video.
    record(db_session, context, "partner:subject:register", f"subject:{scene.subject_id}",
           payload=seal_fields(db_session, context, f"subject:{scene.subject_id}",
                               {"display_name": "Ada Lovelace"}))
    store_template(db_session, TemplateBox(bytes(32)), subject_id=scene.subject_id,
                   consent_id=scene.consent_id, request_id=None,
                   encoding=encoding_of(obama), now=NOW)
    issue_subject_link(db_session, db_session.get(Consent, scene.consent_id), now=NOW)
    queued = add_job(db_session, scene, JobState.QUEUED)
    done = add_job(db_session, scene, JobState.SUCCEEDED)
    artifact = add_artifact(db_session, scene, done, store)
    pending = Consent(subject_id=scene.subject_id, organisation_id=scene.organisation_id,
                      status=ConsentStatus.PENDING, purposes=["advertising"], requested_at=NOW)
    db_session.add(pending)
    db_session.flush()
    media = [db_session.get(Asset, i).storage_key
             for i in (scene.reference_id, scene.audio_id, scene.evidence_id)]
    video_key = f"sha256/{artifact.sha256[:2]}/{artifact.sha256}"
    assert all(store.exists(key) for key in [*media, video_key])

    done_erasure = erase_subject(db_session, context, store, subject_id=scene.subject_id,
                                 officer_id=scene.officer_id, reason="GDPR request #17",
                                 now=NOW)

    assert done_erasure.revoked_consents == (scene.consent_id,)
    assert done_erasure.rejected_consents == (pending.id,)
    assert done_erasure.cancelled_jobs == (queued.id,)
    assert done_erasure.flagged_assets == (artifact.asset_id,)
    assert done_erasure.audit_key_destroyed and done_erasure.videos_deleted == 1
    subject = db_session.get(Subject, scene.subject_id)
    assert (subject.display_name, subject.external_ref, subject.erased_at) == (
        ERASED_NAME, None, NOW)
    # The bytes go once the erasure commits, never before (a failed commit keeps them).
    assert all(store.exists(key) for key in [*media, video_key])
    db_session.commit()
    assert not any(store.exists(key) for key in [*media, video_key])
    for asset in db_session.scalars(select(Asset).where(Asset.subject_id == subject.id)):
        assert asset.purged_at == NOW and asset.face_encoding is None and asset.sha256
    template = db_session.scalar(select(FaceTemplate).where(
        FaceTemplate.subject_id == subject.id))
    assert template.ciphertext is None
    for job in db_session.scalars(select(Job).where(Job.subject_id == subject.id)):
        assert job.transcript is None and job.transcript_sha256  # the hash stays
    link = db_session.scalar(select(SubjectLink).where(SubjectLink.subject_id == subject.id))
    assert link.disabled_at == NOW
    kept = db_session.get(Artifact, artifact.id)
    assert kept.sha256 == artifact.sha256 and kept.consent_revoked_at == NOW
    assert kept.purged_at == NOW  # its download answers 410 artifact_purged, not a 500
    found = lookup_artifact(db_session, asset_id=artifact.asset_id, now=NOW)
    assert found.standing == ConsentStanding.REVOKED and found.subject.display_name == ERASED_NAME
    key = db_session.get(AuditPersonalKey, f"subject:{subject.id}")
    assert key.wrapped_key is None and key.erased_at == NOW

    log = events(db_session)
    assert verify_audit_chain(db_session).ok
    opener = PayloadOpener(db_session, KEYRING)
    register = next(e for e in log if e.action == "partner:subject:register")
    assert opener.open(register.payload)["display_name"] == ERASED
    assert "Ada Lovelace" not in repr([e.payload for e in log])
    erasure = [e for e in log if e.action == "compliance:subject:erase"]
    assert len(erasure) == 1 and erasure[0].resource == f"subject:{subject.id}"


def test_erasure_is_for_officers_and_happens_once(db_session: Session, store, obama) -> None:
    scene = make_scene(db_session, store, obama)
    partner = create_user(db_session, OFFICER, email=f"p-{scene.subject_id}@l.test",
                          display_name="Partner")
    grant_role(db_session, OFFICER, user_id=partner.id, role=Role.PARTNER,
               organisation_id=scene.organisation_id)
    with pytest.raises(RoleMissing):
        erase_subject(db_session, OFFICER, store, subject_id=scene.subject_id,
                      officer_id=partner.id, reason="not an officer", now=NOW)
    assert db_session.get(Subject, scene.subject_id).erased_at is None
    erase_subject(db_session, OFFICER, store, subject_id=scene.subject_id,
                  officer_id=scene.officer_id, reason="request", now=NOW)
    with pytest.raises(StateConflict):
        erase_subject(db_session, OFFICER, store, subject_id=scene.subject_id,
                      officer_id=scene.officer_id, reason="again", now=NOW)
