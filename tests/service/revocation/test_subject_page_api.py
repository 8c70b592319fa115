"""The subject's private page over HTTP (real PostgreSQL and Redis): the officer's approval
hands out the link, the page (HTML and JSON) lists the videos with their transcripts, the
subject revokes with a confirmation, verification then says "consent revoked on ...", unknown
links are plain 404s, the token endpoints are rate-limited, and an officer can erase."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db.models import (
    Artifact,
    Asset,
    AuditEventRow,
    Consent,
    ConsentStatus,
    Job,
    JobState,
    Subject,
)
from service.keys import init_development_keys, watermark_key
from service.release.verify import verify_video
from service.settings import Settings
from tests.service.api.conftest import (  # noqa: F401 (pg_engine, redis_prefix: fixtures)
    World,
    build_world,
    error_code,
    expiry,
    make_settings,
    pg_engine,
    redis_prefix,
    registered_subject,
)
from tests.service.api.registry_support import marked_video, registered_artifact

TRANSCRIPT = "Please bring me the blue map."


@pytest.fixture
def web(pg_engine: Engine, tmp_path: Path, redis_prefix: str) -> Iterator[World]:
    init_development_keys(Settings(data_dir=tmp_path))  # the verify endpoint needs the key
    world = build_world(pg_engine, make_settings(tmp_path, redis_prefix,
                                                 public_base_url="https://consent.example"))
    with world.client:
        yield world


def _approve(web: World) -> tuple[str, str, str]:
    """A registered subject approved by the officer: (subject id, consent id, link URL)."""
    subject = registered_subject(web)
    consent_id = subject["consents"][0]["id"]
    approved = web.client.post(f"/v1/consents/{consent_id}/approve", headers=web.officer(),
                               json={"purposes": ["dubbing"], "expires_at": expiry(10)})
    assert approved.status_code == 200, approved.text
    return subject["id"], consent_id, approved.json()["subject_link"]


def _add_job(engine: Engine, consent_id: str, state: JobState, transcript: str) -> uuid.UUID:
    with Session(engine) as session:
        consent = session.get(Consent, uuid.UUID(consent_id))
        portrait = session.scalar(select(Asset.id).where(Asset.subject_id == consent.subject_id,
                                                         Asset.is_reference.is_(True)))
        job = Job(organisation_id=consent.organisation_id, subject_id=consent.subject_id,
                  consent_id=consent.id, purpose="dubbing", portrait_asset_id=portrait,
                  audio_asset_id=portrait, controls={}, state=state, progress=0.0, attempts=0,
                  created_at=datetime.now(UTC), transcript=transcript,
                  transcript_language="en", transcript_sha256="ab" * 32,
                  transcript_check="pending")
        session.add(job)
        session.commit()
        return job.id


def _path(url: str) -> str:
    assert url.startswith("https://consent.example/s/")
    return url.removeprefix("https://consent.example")


def test_the_subject_sees_the_videos_and_revokes(web: World, tmp_path: Path) -> None:
    subject_id, consent_id, url = _approve(web)
    page = _path(url)
    queued = _add_job(web.engine, consent_id, JobState.QUEUED, TRANSCRIPT)
    done = _add_job(web.engine, consent_id, JobState.SUCCEEDED, "Who will go with Bob and Pam?")
    video = marked_video(tmp_path / "issued.mp4", watermark_key(web.settings),
                         secrets.randbits(56))
    asset_id = verify_video(video, watermark_key(web.settings), None).asset_id
    with Session(web.engine) as session:
        session.add(Artifact(asset_id=asset_id, job_id=done, organisation_id=web.org_id,
                             subject_id=uuid.UUID(subject_id), consent_id=uuid.UUID(consent_id),
                             sha256=secrets.token_hex(32), created_at=datetime.now(UTC)))
        session.commit()

    html = web.client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert html.headers["cache-control"] == "no-store"
    assert html.headers["referrer-policy"] == "no-referrer"
    assert TRANSCRIPT in html.text and "Who will go with Bob and Pam?" in html.text
    assert "Studio" in html.text and 'name="confirm"' in html.text
    listed = web.client.get(page, params={"format": "json"}).json()
    assert listed["consent"]["status"] == "approved" and listed["consent"]["partner"] == "Studio"
    assert {(v["state"], v["transcript"]) for v in listed["videos"]} == {
        ("queued", TRANSCRIPT), ("succeeded", "Who will go with Bob and Pam?")}
    assert listed["revoke"] == {"url": f"{page}/revoke", "confirm": "REVOKE"}

    unconfirmed = web.client.post(f"{page}/revoke", json={"confirm": "yes"})
    assert unconfirmed.status_code == 422 and error_code(unconfirmed) == "request_invalid"
    revoked = web.client.post(f"{page}/revoke", data={"confirm": "REVOKE",
                                                      "reason": "I no longer agree"},
                              follow_redirects=False)
    assert revoked.status_code == 303 and revoked.headers["location"] == page

    after = web.client.get(page, headers={"Accept": "application/json"}).json()
    assert after["consent"]["status"] == "revoked" and after["revoke"] is None
    states = {v["state"] for v in after["videos"]}
    assert states == {"cancelled", "succeeded"}
    assert [v["flagged_revoked"] for v in after["videos"] if v["state"] == "succeeded"] == [True]
    with Session(web.engine) as session:
        assert session.get(Job, queued).state == JobState.CANCELLED
    sequence_pending(web.engine)
    with Session(web.engine) as session:
        event = session.scalar(select(AuditEventRow).where(
            AuditEventRow.resource == f"consent:{consent_id}",
            AuditEventRow.action == "subject:consent:revoke"))
    assert event.actor == f"subject:{subject_id}"
    assert event.payload["reason"] == "I no longer agree"

    with video.open("rb") as handle:
        checked = web.client.post("/v1/verify", files={"file": ("issued.mp4", handle)}).json()
    day = datetime.now(UTC).date().isoformat()
    assert checked["registry"]["consent_status"] == "revoked"
    assert checked["registry"]["consent_notice"] == f"consent revoked on {day}"
    assert checked["verdict"]["text"].endswith(f"— consent revoked on {day}")
    again = web.client.post(f"{page}/revoke", json={"confirm": "REVOKE"})
    assert again.status_code == 409


def test_unknown_links_are_plain_404s_and_the_endpoints_are_limited(
        pg_engine: Engine, tmp_path: Path, redis_prefix: str) -> None:
    world = build_world(pg_engine, make_settings(tmp_path, redis_prefix,
                                                 rate_limit_subject_page_per_minute=3))
    with world.client:
        unknown = world.client.get(f"/s/{secrets.token_urlsafe(32)}")
        assert unknown.status_code == 404 and "No such page" in unknown.text
        as_json = world.client.get("/s/not-a-token", params={"format": "json"})
        assert as_json.status_code == 404 and as_json.json()["error"]["message"] == "no such page"
        revoke = world.client.post(f"/s/{secrets.token_urlsafe(32)}/revoke",
                                   json={"confirm": "REVOKE"})
        assert revoke.status_code == 404
        limited = world.client.get(f"/s/{secrets.token_urlsafe(32)}")
        assert limited.status_code == 429 and error_code(limited) == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1


def test_officers_revoke_and_erase_partners_cannot(web: World, tmp_path: Path) -> None:
    key = watermark_key(web.settings)
    video = marked_video(tmp_path / "made.mp4", key, secrets.randbits(56))
    report = verify_video(video, key, None)
    registered = registered_artifact(web.engine, web.org_id, report.asset_id,
                                     report.file.sha256)
    refused = web.client.post(f"/v1/subjects/{registered.subject_id}/erase",
                              headers=web.headers(), json={"reason": "partner tries"})
    assert refused.status_code == 403

    revoked = web.client.post(f"/v1/consents/{registered.consent_id}/revoke",
                              headers=web.officer(), json={"reason": "misuse report #4"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    with video.open("rb") as handle:
        checked = web.client.post("/v1/verify", files={"file": ("made.mp4", handle)}).json()
    assert checked["verdict"]["consent_notice"].startswith("consent revoked on ")

    erased = web.client.post(f"/v1/subjects/{registered.subject_id}/erase",
                             headers=web.officer(), json={"reason": "GDPR request #9"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["revoked_consents"] == []  # already revoked by the officer
    with Session(web.engine) as session:
        subject = session.get(Subject, registered.subject_id)
        assert subject.erased_at is not None and subject.display_name == "[erased]"
        assert session.get(Consent, registered.consent_id).status == ConsentStatus.REVOKED
    twice = web.client.post(f"/v1/subjects/{registered.subject_id}/erase",
                            headers=web.officer(), json={"reason": "again"})
    assert twice.status_code == 409
