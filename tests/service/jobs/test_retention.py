"""Retention purges old uploads' bytes once no active job needs them, keeps references and
shared blobs, and audits every purge; released videos' bytes go after their own retention while
the registry record stays, except a video under an open misuse report. The orphan sweep deletes
old bytes no row holds, on the local and the S3 store, and nothing any row still needs."""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime, timedelta

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
from service.jobs.retention import (
    OrphanSweep,
    purge_expired_artifacts,
    purge_expired_media,
    sweep_orphan_blobs,
)
from service.jobs.worker import _periodic_work
from service.settings import Settings
from service.storage import ListedBlob, LocalBlobStore, blob_key
from service.storage.s3 import S3BlobStore
from tests.conftest import BACKENDS
from tests.service.jobs.conftest import (
    T0,
    add_asset,
    fresh_engine,
    seed_world,
    speech_wav,
    submit_committed,
)
from tests.service.storage.conftest import moto_server  # noqa: F401 (a fixture)

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


# -- orphan blobs -------------------------------------------------------------------------------

GRACE = timedelta(hours=24)


@pytest.fixture(params=["local", "s3"])
def blob_store(request, tmp_path):
    """An empty store of each backend (S3: a bucket of its own on the moto server)."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    server = request.getfixturevalue("moto_server")
    return S3BlobStore(server.new_bucket(), client=server.client())


def _listed(store) -> dict[str, ListedBlob]:
    return {blob.key: blob for blob in store.list_keys(datetime.now(UTC) + timedelta(hours=1))}


def _sweep_events(session) -> list[AuditEventRow]:
    sequence_pending(session)
    return list(session.scalars(select(AuditEventRow).where(
        AuditEventRow.action == "retention:blob:sweep").order_by(AuditEventRow.seq)))


def test_the_orphan_sweep_deletes_only_old_bytes_no_row_holds(sessions, blob_store):
    store, token = blob_store, secrets.token_bytes(8)
    with session_scope(sessions) as session:
        world = seed_world(session, store, speech_wav(0.5))  # a portrait and a speech upload
        session.get(Asset, world.portrait_id).is_reference = True
        released = _release(session, store, world, b"released video " + token)
        evidence = store.put_bytes(b"video uploaded with a misuse report " + token)
        file_report(session, CONTEXT, category=ReportCategory.OTHER,
                    description="found online", contact=None, asset_id=None,
                    video=ReportedVideo(evidence.key, evidence.sha256, "no_mark", None), now=T0)
        # One blob, two uploads: the purged one must not take the bytes the other still holds.
        purged_twin, live_twin = (
            add_asset(session, store, world.organisation_id, world.subject_id,
                      AssetKind.AUDIO, speech_wav(0.6), "audio/wav") for _ in range(2))
        purged_twin.purged_at = T0
        # Purges committed whose after-commit deletions were lost (a crash): bytes left over.
        leftover = add_asset(session, store, world.organisation_id, world.subject_id,
                             AssetKind.AUDIO, speech_wav(0.8), "audio/wav")
        leftover.purged_at = T0
        purged_video = _release(session, store, world, b"purged video " + token)
        purged_video.purged_at = T0
        held = {session.get(Asset, world.portrait_id).storage_key,
                session.get(Asset, world.audio_id).storage_key, blob_key(released.sha256),
                evidence.key, live_twin.storage_key}
        orphans = {leftover.storage_key, blob_key(purged_video.sha256)}
    rolled_back = []
    with pytest.raises(RuntimeError), session_scope(sessions) as session:
        rolled_back.append(add_asset(session, store, world.organisation_id, world.subject_id,
                                     AssetKind.AUDIO, speech_wav(0.9), "audio/wav").storage_key)
        raise RuntimeError("the upload's transaction failed after its blob was written")
    orphans.update(rolled_back)
    old = _listed(store)
    assert set(old) == held | orphans
    time.sleep(1.1)  # S3 dates objects to the second
    young = store.put_bytes(b"an upload in flight: its row is not committed yet " + token)
    now = max(blob.modified_at for blob in old.values()) + timedelta(seconds=1) + GRACE

    with session_scope(sessions) as session:
        swept = sweep_orphan_blobs(session, CONTEXT, store, now=now, grace=GRACE)
    assert swept == OrphanSweep(blobs_checked=len(old), blobs_deleted=len(orphans),
                                bytes_deleted=sum(old[key].size_bytes for key in orphans))
    assert all(store.exists(key) for key in held) and store.exists(young.key)
    assert not any(store.exists(key) for key in orphans)
    with session_scope(sessions) as session:
        [event] = _sweep_events(session)
        assert event.actor == CONTEXT.actor and event.resource == "blob_store:orphans"
        assert event.payload == {"blobs_deleted": 3, "bytes_deleted": swept.bytes_deleted,
                                 "blobs_checked": len(old), "grace_hours": 24.0}
        assert verify_audit_chain(session).ok

    with session_scope(sessions) as session:  # nothing left to delete: no event
        assert sweep_orphan_blobs(session, CONTEXT, store, now=now,
                                  grace=GRACE).blobs_deleted == 0
        assert len(_sweep_events(session)) == 1
    with session_scope(sessions) as session:  # the upload never committed: once old, it goes
        later = datetime.now(UTC) + 2 * GRACE
        assert sweep_orphan_blobs(session, CONTEXT, store, now=later,
                                  grace=GRACE).blobs_deleted == 1
    assert not store.exists(young.key) and all(store.exists(key) for key in held)


class _UploadDuringSweep:
    """The store, with an upload of ``data`` landing between the sweep's listing and its
    check of the database: the upload finds its bytes there and writes nothing, and its row
    is not committed when the sweep looks."""

    def __init__(self, store, data: bytes) -> None:
        self.store, self.data = store, data

    def list_keys(self, older_than):
        listed = list(self.store.list_keys(older_than))
        self.store.put_bytes(self.data)
        yield from listed

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_bytes_uploaded_again_while_the_sweep_runs_are_kept(sessions, blob_store):
    data = b"an old orphan, uploaded again " + secrets.token_bytes(8)
    blob = blob_store.put_bytes(data)
    [listed] = _listed(blob_store).values()
    time.sleep(1.1)
    now = listed.modified_at + timedelta(seconds=1) + GRACE  # the orphan is past its grace
    with session_scope(sessions) as session:
        swept = sweep_orphan_blobs(session, CONTEXT, _UploadDuringSweep(blob_store, data),
                                   now=now, grace=GRACE)
    assert swept == OrphanSweep(blobs_checked=1, blobs_deleted=0, bytes_deleted=0)
    with blob_store.open(blob.key) as handle:
        assert handle.read() == data


def test_a_sweep_deletes_at_most_its_limit(sessions, blob_store):
    keys = {blob_store.put_bytes(secrets.token_bytes(32)).key for _ in range(3)}
    later = datetime.now(UTC) + 2 * GRACE
    with session_scope(sessions) as session:
        first = sweep_orphan_blobs(session, CONTEXT, blob_store, now=later, grace=GRACE,
                                   limit=2, batch=2)
    assert first.blobs_deleted == 2 and first.bytes_deleted == 64
    with session_scope(sessions) as session:
        assert sweep_orphan_blobs(session, CONTEXT, blob_store, now=later,
                                  grace=GRACE).blobs_deleted == 1
        assert [e.payload["blobs_deleted"] for e in _sweep_events(session)] == [2, 1]
    assert not any(blob_store.exists(key) for key in keys)


def test_a_grace_too_short_for_uploads_in_flight_is_refused(sessions, tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with session_scope(sessions) as session:
        with pytest.raises(ValueError, match="grace"):
            sweep_orphan_blobs(session, CONTEXT, store, now=datetime.now(UTC),
                               grace=timedelta(minutes=5))
        with pytest.raises(ValueError, match="timezone"):
            sweep_orphan_blobs(session, CONTEXT, store, now=datetime.now(), grace=GRACE)
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, orphan_blob_grace_hours=0.5)


def test_workers_sweep_orphans_at_most_once_an_hour(postgres_database, tmp_path):
    engine = fresh_engine("postgresql", postgres_database, tmp_path / "db",
                          "likeness_test_retention_worker")
    settings = Settings(data_dir=tmp_path / "data",
                        database_url=engine.url.render_as_string(hide_password=False))
    store, clock = LocalBlobStore(settings.blob_root), [1000.0]

    def orphan() -> str:
        key = store.put_bytes(secrets.token_bytes(16)).key
        two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
        os.utime(store.path_for(key), (two_days_ago, two_days_ago))
        return key

    try:
        run = _periodic_work(settings, make_session_factory(engine), clock=lambda: clock[0])
        first = orphan()
        run()  # the first round sweeps
        assert not store.exists(first)
        second = orphan()
        clock[0] += 3000
        run()
        assert store.exists(second)  # within the hour: not listed again
        clock[0] += 700
        run()
        assert not store.exists(second)
        with session_scope(make_session_factory(engine)) as session:
            assert len(_sweep_events(session)) == 2

        never = _periodic_work(settings.model_copy(update={"orphan_blob_grace_hours": None}),
                               make_session_factory(engine), clock=lambda: clock[0])
        third = orphan()
        never()
        assert store.exists(third)
    finally:
        engine.dispose()
