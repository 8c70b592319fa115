"""Transcripts over HTTP (real PostgreSQL, Redis and a private broker): a job must declare one,
the job shows it back, and a language the aligner cannot check holds the job for the
officers' review queue, where an officer listens, approves (the job queues) or rejects it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.db.models import Job, JobState
from tests.service.api.conftest import (  # noqa: F401 (pg_engine, redis_prefix: fixtures)
    World,
    error_code,
    pg_engine,
    redis_prefix,
)
from tests.service.api.test_jobs import jobs_world, media, seed, submit  # noqa: F401 (media)
from tests.service.jobs.conftest import PrivateRedis, private_redis  # noqa: F401 (a fixture)


@pytest.fixture
def api(pg_engine: Engine, tmp_path: Path, redis_prefix: str,  # noqa: F811
        private_redis: PrivateRedis) -> Iterator[World]:  # noqa: F811
    world = jobs_world(pg_engine, tmp_path, redis_prefix, private_redis)
    with world.client:
        yield world


def test_a_job_must_declare_its_transcript(api: World, media) -> None:  # noqa: F811
    seeded = seed(api, media)
    body = seeded.body()
    del body["transcript"]
    missing = submit(api, body)
    assert missing.status_code == 422 and error_code(missing) == "request_invalid"
    assert "transcript" in missing.json()["error"]["message"]
    bad = submit(api, seeded.body(language="klingon!"))
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "language"
    queued = submit(api, seeded.body(transcript="  Please bring me   the blue map. "))
    assert queued.status_code == 202, queued.text
    shown = queued.json()["transcript"]
    assert shown["text"] == "Please bring me the blue map." and shown["language"] == "en"
    assert len(shown["sha256"]) == 64 and shown["check"] == "pending"
    assert queued.json()["state"] == "queued"


def test_an_uncheckable_language_waits_for_an_officer(api: World, media) -> None:  # noqa: F811
    seeded = seed(api, media)
    held = submit(api, seeded.body(transcript="Apportez-moi la carte bleue.", language="fr"))
    assert held.status_code == 202, held.text
    job = held.json()
    assert job["state"] == "awaiting_review" and job["transcript"]["check"] == "review_required"
    assert api.client.get("/v1/transcript-reviews", headers=api.headers()).status_code == 403

    queue = api.client.get("/v1/transcript-reviews", headers=api.officer(),
                           params={"limit": 200}).json()
    [listed] = [item for item in queue["items"] if item["job_id"] == job["id"]]
    assert listed["transcript"] == "Apportez-moi la carte bleue." and listed["language"] == "fr"
    assert listed["partner"] == "Studio"
    audio = api.client.get(f"/v1/transcript-reviews/{job['id']}/audio", headers=api.officer())
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"

    approved = api.client.post(f"/v1/transcript-reviews/{job['id']}/approve",
                               headers=api.officer())
    assert approved.status_code == 200 and approved.json()["state"] == "queued"
    with Session(api.engine) as session:
        assert session.get(Job, job["id"]).transcript_check == "officer_approved"
    again = api.client.post(f"/v1/transcript-reviews/{job['id']}/approve",
                            headers=api.officer())
    assert again.status_code == 409

    other = submit(api, seeded.body(transcript="Hola, ¿qué tal?", language="es",
                                    controls={"steps": 2, "seed": 9})).json()
    rejected = api.client.post(f"/v1/transcript-reviews/{other['id']}/reject",
                               headers=api.officer(), json={"reason": "not what it says"})
    assert rejected.status_code == 200 and rejected.json()["state"] == JobState.FAILED.value
    failed = api.client.get(f"/v1/jobs/{other['id']}", headers=api.headers()).json()
    assert failed["error"] == {"code": "transcript_rejected", "message": "not what it says"}
