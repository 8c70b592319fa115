"""Consent requests up to the evidence: the script and its one-time code words, the capture
page and its calls, and every way a challenge is refused (no worker here: what the verifier
does is ``test_verification.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from service.db.models import ConsentRequest
from service.db.types import utcnow
from tests.service.api.conftest import World, build_world, error_code, expiry, make_settings
from tests.service.consent.conftest import audit_events, bare_subject, synthetic_clip

MAX_CAPTURE_BYTES = 400_000


@pytest.fixture
def small(pg_engine: Engine, tmp_path: Path, redis_prefix: str) -> Iterator[World]:
    """The API with a small recording limit (and a 3-12 s duration window)."""
    world = build_world(pg_engine, make_settings(tmp_path, redis_prefix,
                                                 max_capture_bytes=MAX_CAPTURE_BYTES,
                                                 min_capture_seconds=3.0,
                                                 max_capture_seconds=40.0))
    with world.client:
        yield world


def ask(world: World, subject_id: str, key: str | None = None, **body: object):
    payload = {"purposes": ["dubbing", "education"], "expires_at": expiry(90)} | body
    return world.client.post(f"/v1/subjects/{subject_id}/consent-requests", json=payload,
                             headers=world.headers(key))


def token_of(request: dict) -> str:
    return request["capture_url"].rsplit("/capture/", 1)[1]


def send(world: World, token: str, clip: bytes, timeline: str | None = None):
    return world.client.post(f"/capture/{token}/recording",
                             data={"timeline": timeline or '{"prompts": []}'},
                             files={"recording": ("consent.webm", clip, "video/webm")})


def test_a_request_returns_the_script_and_a_one_time_capture_link(small: World) -> None:
    subject = bare_subject(small, name="Ada Actor")
    created = ask(small, subject["id"], max_jobs=3)
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["status"] == "open" and request["max_jobs"] == 3
    assert request["capture_url"].startswith("https://testserver/capture/")
    script = request["script"]
    assert script.startswith("I, Ada Actor, consent to Studio making videos of my likeness")
    assert "dubbing and education" in script
    lifetime = request["challenge_expires_at"]
    assert abs(_seconds_until(lifetime) - 1800) < 60  # the default 30 minutes
    again = small.client.get(f"/v1/consent-requests/{request['id']}", headers=small.headers())
    assert again.status_code == 200 and again.json()["capture_url"] is None  # shown once
    assert again.json()["script"] == script
    [event] = audit_events(small.engine, f"consent_request:{request['id']}")
    assert event.action == "partner:consent:request" and event.payload["max_jobs"] == 3


def _seconds_until(iso: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(iso) - utcnow()).total_seconds()


def test_requests_are_checked_and_private(small: World) -> None:
    subject = bare_subject(small)
    unknown = ask(small, subject["id"], purposes=["surveillance"])
    assert unknown.status_code == 422 and error_code(unknown) == "purpose_unknown"
    past = ask(small, subject["id"], expires_at="2020-01-01T00:00:00Z")
    assert past.status_code == 422 and error_code(past) == "request_invalid"
    assert ask(small, subject["id"], max_jobs=0).status_code == 422
    assert ask(small, subject["id"], key=small.other_key).status_code == 404
    narrow = ask(small, subject["id"], key=small.narrow_key)
    assert narrow.status_code == 403 and error_code(narrow) == "scope_missing"
    mine = ask(small, subject["id"]).json()
    for key in (small.other_key, small.test_key):
        seen = small.client.get(f"/v1/consent-requests/{mine['id']}",
                                headers=small.headers(key))
        assert seen.status_code == 404


def test_the_page_reveals_the_prompts_and_the_words_only_at_start(small: World) -> None:
    request = ask(small, bare_subject(small)["id"]).json()
    token = token_of(request)
    page = small.client.get(f"/capture/{token}")
    assert page.status_code == 200 and "I, Ada Actor, consent to Studio" in page.text
    assert "'self'" in page.headers["content-security-policy"]
    words = request["script"].rsplit(". ", 1)[1].rstrip(".").lower()
    assert words.split()[0] not in page.text.lower()  # the code words come with their prompt
    early = send(small, token, synthetic_clip(4.0))
    assert early.status_code == 409 and error_code(early) == "capture_not_started"
    start = small.client.post(f"/capture/{token}/start")
    assert start.status_code == 200, start.text
    plan = start.json()
    kinds = [p["text"].split(",")[0] for p in plan["prompts"]]
    assert sorted(kinds[:2]) == ["Turn your head to the left", "Turn your head to the right"]
    assert plan["prompts"][2]["text"].lower().endswith(words)
    times = [p["at_seconds"] for p in plan["prompts"]]
    assert times == sorted(times) and times[-1] < plan["duration_seconds"]
    assert small.client.post(f"/capture/{token}/start").json() == plan  # a reload: the same
    actions = [e.action for e in audit_events(small.engine, f"consent_request:{request['id']}")]
    assert actions == ["partner:consent:request", "subject:consent:capture",
                       "subject:consent:capture_start"]


def test_a_recording_uses_the_challenge_once(small: World) -> None:
    request = ask(small, bare_subject(small)["id"]).json()
    token = token_of(request)
    plan = small.client.post(f"/capture/{token}/start").json()
    shown = [{"id": p["id"], "shown_at": p["at_seconds"] + 0.05} for p in plan["prompts"]]
    timeline = '{"prompts": %s, "mime_type": "video/webm;codecs=vp8,opus"}' % (
        str(shown).replace("'", '"'))
    bad_timeline = send(small, token, synthetic_clip(4.0), '{"prompts": [{"id": "p9"}]}')
    assert bad_timeline.status_code == 422 and error_code(bad_timeline) == "request_invalid"
    accepted = send(small, token, synthetic_clip(4.0), timeline)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "verifying"
    again = send(small, token, synthetic_clip(4.0), timeline)
    assert again.status_code == 409 and error_code(again) == "challenge_used"
    page = small.client.get(f"/capture/{token}")
    assert page.status_code == 409 and "challenge_used" in page.text
    seen = small.client.get(f"/v1/consent-requests/{request['id']}",
                            headers=small.headers()).json()
    assert seen["status"] == "verifying" and seen["evidence_source"] == "capture"
    events = audit_events(small.engine, f"consent_request:{request['id']}")
    assert [(e.action, e.outcome.value) for e in events][-2:] == [
        ("subject:consent:capture", "success"), ("subject:consent:capture", "denied")]
    assert events[-1].payload == {"reason": "challenge_used"}
    assert events[-2].actor == f"capture_link:{request['id']}"


def test_an_expired_challenge_is_gone(small: World) -> None:
    request = ask(small, bare_subject(small)["id"]).json()
    token = token_of(request)
    with Session(small.engine) as session:
        session.execute(update(ConsentRequest).where(ConsentRequest.id == request["id"])
                        .values(challenge_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    page = small.client.get(f"/capture/{token}")
    assert page.status_code == 410 and "challenge_expired" in page.text
    start = small.client.post(f"/capture/{token}/start")
    assert start.status_code == 410 and error_code(start) == "challenge_expired"
    late = small.client.post(f"/v1/consent-requests/{request['id']}/evidence",
                             headers=small.headers(),
                             files={"file": ("clip.webm", synthetic_clip(4.0), "video/webm")})
    assert late.status_code == 410 and error_code(late) == "challenge_expired"
    denied = [e for e in audit_events(small.engine, f"consent_request:{request['id']}")
              if e.outcome.value == "denied"]
    assert [e.action for e in denied] == ["subject:consent:capture_start",
                                          "partner:consent:evidence"]


def test_bad_recordings_are_refused_before_anything_is_stored(small: World) -> None:
    request = ask(small, bare_subject(small)["id"]).json()
    token = token_of(request)
    small.client.post(f"/capture/{token}/start")
    clip = synthetic_clip(4.0)
    for data, status, code in (
            (clip[:80] + b"\x00" * 2000, 422, "upload_corrupt"),
            (b"x" * (MAX_CAPTURE_BYTES + 1), 413, "upload_too_large"),
            (synthetic_clip(4.0, audio=False), 422, "recording_stream_missing"),
            (synthetic_clip(1.0), 422, "recording_too_short"),
            (b"%PDF-1.4 not a video", 415, "upload_type_unsupported")):
        refused = send(small, token, data)
        assert (refused.status_code, error_code(refused)) == (status, code)
    seen = small.client.get(f"/v1/consent-requests/{request['id']}", headers=small.headers())
    assert seen.json()["status"] == "open"  # the challenge is still unused
