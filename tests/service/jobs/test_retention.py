"""Retention purges old uploads' bytes once no active job needs them, keeps references and
shared blobs, and audits every purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.audit.sequencer import sequence_pending
from service.db.audit import AuditContext, verify_audit_chain
from service.db.engine import make_session_factory, session_scope
from service.db.models import Asset, AssetKind, AuditEventRow, Job, JobState
from service.jobs.retention import purge_expired_media
from service.storage import LocalBlobStore
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
