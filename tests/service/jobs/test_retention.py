"""Retention purges old uploads' bytes once no active job needs them, keeps references and
shared blobs, and audits every purge; released videos' bytes go after their own retention while
the registry record stays, except a video under an open misuse report."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select

from service.audit.sequencer import sequence_pending
from service.auth import create_user, grant_role
from service.db.audit import AuditContext, verify_audit_chain
from service.db.engine import make_session_factory, session_scope
from service.db.models import (
    Artifact,
    Asset,
    AssetKind,
    AuditEventRow,
    Consent,
    Job,
    JobState,
    Organisation,
    ReportCategory,
    ReportOutcome,
    Role,
    Subject,
)
from service.domain.registry import lookup_artifact, register_artifact
from service.domain.reports import ReportedVideo, file_report, resolve_report
from service.jobs.retention import purge_expired_artifacts, purge_expired_media
from service.storage import LocalBlobStore, blob_key
from tests.conftest import BACKENDS
from tests.service.jobs.conftest import (
    T0,
    add_asset,
    fresh_engine,
    seed_world,
    speech_wav,
    submit_committed,
)

CONTEXT = AuditContext(actor="system:retention:test")


@pytest.fixture(params=BACKENDS)
def sessions(request, postgres_database, tmp_path):
    engine = fresh_engine(request.param, postgres_database, tmp_path / "db",
                          "likeness_test_retention")
    yield make_session_factory(engine)
    engine.dispose()


def test_purges_old_uploads_but_not_references_or_active_inputs(sessions, tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with session_scope(sessions) as session:
        world = seed_world(session, store, speech_wav(0.5))
        extra = add_asset(session, store, world.organisation_id, world.subject_id,
                          AssetKind.AUDIO, speech_wav(0.7), "audio/wav")
        reference = session.get(Asset, world.portrait_id)
        reference.is_reference = True
        extra_id, extra_key = extra.id, extra.storage_key
    job_id, _ = submit_committed(sessions, world, controls={"steps": 2})  # uses the speech asset
    later = T0 + timedelta(days=40)

    with session_scope(sessions) as session:
        purged = purge_expired_media(session, CONTEXT, store, retention_days=30, now=later)
    assert purged == [extra_id]  # the queued job's speech and the reference portrait stay
    assert not store.exists(extra_key)

    with session_scope(sessions) as session:
        session.get(Job, job_id).state = JobState.SUCCEEDED
    with session_scope(sessions) as session:
        purged = purge_expired_media(session, CONTEXT, store, retention_days=30, now=later)
        speech = session.get(Asset, world.audio_id)
        assert purged == [world.audio_id] and speech.purged_at is not None
        assert session.get(Asset, world.portrait_id).purged_at is None
        sequence_pending(session)
        actions = session.scalars(select(AuditEventRow.action)).all()
        assert actions.count("retention:asset:purge") == 2
        assert verify_audit_chain(session).ok
    with session_scope(sessions) as session:  # nothing left to do: idempotent
        assert purge_expired_media(session, CONTEXT, store, retention_days=30, now=later) == []


# -- released videos (artifacts) ----------------------------------------------------------------


def _release(session, store, world, data: bytes, *, job_id=None, days: float = 0) -> Artifact:
    """A released video ``days`` after T0: its bytes stored and its registry row written, for
    a job (as the worker does) or, without one, as ``likeness generate`` registers it."""
    stored = store.put_bytes(data)
    if job_id is not None:
        return register_artifact(session, secrets.token_hex(7), stored.sha256,
                                 job=session.get(Job, job_id), created_by=CONTEXT,
                                 now=T0 + timedelta(days=days))
    return register_artifact(session, secrets.token_hex(7), stored.sha256,
                             organisation=session.get(Organisation, world.organisation_id),
                             subject=session.get(Subject, world.subject_id),
                             consent=session.get(Consent, world.consent_id),
                             created_by=CONTEXT, now=T0 + timedelta(days=days))


def _artifact_events(session, asset_id: str) -> list[AuditEventRow]:
    sequence_pending(session)
    return list(session.scalars(select(AuditEventRow).where(
        AuditEventRow.action == "retention:artifact:purge",
        AuditEventRow.resource == f"artifact:{asset_id}")))


def test_a_released_video_is_deleted_after_its_retention_and_its_record_stays(sessions,
                                                                              tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with session_scope(sessions) as session:
        world = seed_world(session, store, speech_wav(0.5))
    job_id, _ = submit_committed(sessions, world, controls={"steps": 2})
    with session_scope(sessions) as session:
        session.get(Job, job_id).state = JobState.SUCCEEDED
        video = b"signed mp4 of the job " + secrets.token_bytes(16)
        artifact = _release(session, store, world, video, job_id=job_id)
        artifact_id, asset_id, sha256 = artifact.id, artifact.asset_id, artifact.sha256
    key = blob_key(sha256)

    with session_scope(sessions) as session:  # 29 days on: not yet
        assert purge_expired_artifacts(session, CONTEXT, store, retention_days=30,
                                       now=T0 + timedelta(days=29)) == []
    assert store.exists(key)

    later = T0 + timedelta(days=31)
    with session_scope(sessions) as session:
        assert purge_expired_artifacts(session, CONTEXT, store, retention_days=30,
                                       now=later) == [artifact_id]
    assert not store.exists(key)
    with session_scope(sessions) as session:
        kept = session.get(Artifact, artifact_id)
        assert kept.purged_at is not None and kept.purged_at.date() == later.date()
        assert kept.job_id == job_id and kept.sha256 == sha256  # the registry row stays
        # A copy held elsewhere still resolves: by the watermark's asset id, or exact bytes.
        for found in (lookup_artifact(session, asset_id=asset_id, now=later),
                      lookup_artifact(session, sha256=sha256, now=later)):
            assert found is not None and found.artifact.id == artifact_id
            assert found.artifact.purged_at is not None
        [event] = _artifact_events(session, asset_id)
        assert event.actor == CONTEXT.actor
        assert event.payload == {"sha256": sha256, "bytes_deleted": True,
                                 "retention_days": 30, "job_id": str(job_id)}
        assert verify_audit_chain(session).ok
    with session_scope(sessions) as session:  # nothing left to do: idempotent
        assert purge_expired_artifacts(session, CONTEXT, store, retention_days=30,
                                       now=later + timedelta(days=1)) == []


def test_an_open_misuse_report_keeps_the_video_until_it_is_resolved(sessions, tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with session_scope(sessions) as session:
        world = seed_world(session, store, speech_wav(0.5))
        artifact = _release(session, store, world, b"reported video " + secrets.token_bytes(16))
        artifact_id, asset_id, key = artifact.id, artifact.asset_id, blob_key(artifact.sha256)
        report = file_report(session, CONTEXT, category=ReportCategory.NO_CONSENT,
                             description="my face, and I never agreed to this",
                             contact=None, asset_id=asset_id, video=None,
                             now=T0 + timedelta(days=35))
        officer = create_user(session, CONTEXT, email=f"officer-{secrets.token_hex(4)}@l.test",
                              display_name="Officer")
        grant_role(session, CONTEXT, user_id=officer.id, role=Role.COMPLIANCE_OFFICER)
        report_id, officer_id = report.id, officer.id
    later = T0 + timedelta(days=40)

    with session_scope(sessions) as session:  # evidence under investigation is not deleted
        assert purge_expired_artifacts(session, CONTEXT, store, retention_days=30,
                                       now=later) == []
        assert session.get(Artifact, artifact_id).purged_at is None
    assert store.exists(key)

    with session_scope(sessions) as session:
        resolve_report(session, CONTEXT, report_id=report_id, officer_id=officer_id,
                       outcome=ReportOutcome.NO_ACTION, note="consent on file covers it",
                       now=later)
    with session_scope(sessions) as session:
        assert purge_expired_artifacts(session, CONTEXT, store, retention_days=30,
                                       now=later) == [artifact_id]
    assert not store.exists(key)


def test_shared_video_bytes_stay_while_another_retained_row_needs_them(sessions, tmp_path):
    """Blobs are content-addressed: the same bytes registered twice (say, an operator's
    re-registration), or uploaded with a misuse report, are one blob."""
    store = LocalBlobStore(tmp_path / "blobs")
    video = b"one video, two records " + secrets.token_bytes(16)
    with session_scope(sessions) as session:
        world = seed_world(session, store, speech_wav(0.5))
        older = _release(session, store, world, video)
        newer = _release(session, store, world, video, days=20)
        older_id, older_asset, newer_id, newer_asset = (older.id, older.asset_id, newer.id,
                                                        newer.asset_id)
        sha256 = older.sha256
    key = blob_key(sha256)

    with session_scope(sessions) as session:
        assert purge_expired_artifacts(session, CONTEXT, store, retention_days=30,
                                       now=T0 + timedelta(days=31)) == [older_id]
    assert store.exists(key)  # the newer record still holds the bytes

    with session_scope(sessions) as session:  # a report (no asset named) carries the bytes
        file_report(session, CONTEXT, category=ReportCategory.OTHER,
                    description="found this file online", contact=None, asset_id=None,
                    video=ReportedVideo(key, sha256, "no_mark", None),
                    now=T0 + timedelta(days=45))
    with session_scope(sessions) as session:
        assert purge_expired_artifacts(session, CONTEXT, store, retention_days=30,
                                       now=T0 + timedelta(days=51)) == [newer_id]
    assert store.exists(key)  # the report's evidence shares the blob: kept for the officer
    with session_scope(sessions) as session:
        [first] = _artifact_events(session, older_asset)
        [second] = _artifact_events(session, newer_asset)
        assert first.payload["bytes_deleted"] is False
        assert second.payload["bytes_deleted"] is False
