"""Migration 0008 on a database that already holds jobs (PostgreSQL and SQLite): the rows
survive, the new ``awaiting_review`` state is accepted and anything else is still refused by
the CHECK constraint, plaintext face encodings from before sealing are deleted, and the
downgrade refuses while a job is held for review."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError

from service.db import make_engine
from service.db.migrate import downgrade_database, upgrade_database
from tests.conftest import BACKENDS, database_url

NOW = datetime(2026, 11, 25, tzinfo=UTC).replace(tzinfo=None)


def _seed(connection) -> str:
    ids = {name: uuid.uuid4().hex for name in ("org", "subject", "consent", "asset", "job")}
    statements = [
        ("INSERT INTO organisations (id, name, status, declared_use_case, created_at) "
         "VALUES (:org, 'Studio', 'vetted', 'dubbing', :now)"),
        ("INSERT INTO subjects (id, organisation_id, display_name, is_test, created_at) "
         "VALUES (:subject, :org, 'Ada', false, :now)"),
        ("INSERT INTO consents (id, subject_id, organisation_id, status, purposes, "
         "requested_at, basis) VALUES (:consent, :subject, :org, 'approved', '[\"dubbing\"]', "
         ":now, 'officer_review')"),
        ("INSERT INTO assets (id, organisation_id, subject_id, kind, sha256, size_bytes, "
         "media_type, storage_key, face_encoding, is_reference, is_test, created_at) VALUES "
         "(:asset, :org, :subject, 'portrait', :sha, 1, 'image/png', :key, :plain, true, "
         "false, :now)"),
        ("INSERT INTO jobs (id, organisation_id, subject_id, consent_id, purpose, "
         "portrait_asset_id, audio_asset_id, controls, is_test, state, progress, attempts, "
         "created_at) VALUES (:job, :org, :subject, :consent, 'dubbing', :asset, :asset, '{}', "
         "false, 'queued', 0, 0, :now)"),
    ]
    params = ids | {"now": NOW, "sha": "a" * 64, "key": "sha256/aa/" + "a" * 64,
                    "plain": b"\x00" * 512}
    for statement in statements:
        connection.execute(text(statement), params)
    return ids["job"]


def _as_id(value: str, backend: str):
    return uuid.UUID(value) if backend == "postgresql" else value


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_keeps_rows_and_widens_the_job_states(backend, postgres_database,
                                                      tmp_path) -> None:
    engine = make_engine(database_url(backend, postgres_database, tmp_path,
                                      "likeness_test_mig0008"))
    try:
        upgrade_database(engine, "0007")
        with engine.begin() as connection:
            job = _as_id(_seed(connection), backend)
        upgrade_database(engine)
        with engine.begin() as connection:
            assert connection.execute(text("SELECT state FROM jobs WHERE id = :id"),
                                      {"id": job}).scalar_one() == "queued"
            assert connection.execute(text(
                "SELECT count(*) FROM assets WHERE face_encoding IS NOT NULL")).scalar_one() == 0
            connection.execute(text("UPDATE jobs SET state = 'awaiting_review', "
                                    "transcript_check = 'review_required' WHERE id = :id"),
                               {"id": job})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE jobs SET state = 'bogus' WHERE id = :id"),
                               {"id": job})
        with pytest.raises(RuntimeError, match="awaiting an officer"):
            downgrade_database(engine, "0007")
        with engine.begin() as connection:
            connection.execute(text("UPDATE jobs SET state = 'cancelled' WHERE id = :id"),
                               {"id": job})
        downgrade_database(engine, "0007")
        # Refused again: the CHECK (SQLite), or already the narrower column (PostgreSQL).
        with pytest.raises((IntegrityError, DataError)), engine.begin() as connection:
            connection.execute(text("UPDATE jobs SET state = 'awaiting_review' WHERE id = :id"),
                               {"id": job})
    finally:
        engine.dispose()  # a database of this test's own, dropped with the run
