"""The capture page in headless Chromium, its camera and microphone fed from a consent clip:
the page asks for the devices, reveals and shows the prompts at their moments, records with
MediaRecorder, uploads with its timeline, and a real worker verifies what it recorded."""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import pytest
from sqlalchemy.orm import Session

from service.api.app import create_app
from service.db.models import Asset, ConsentRequest
from service.domain.consent_requests import checks_of
from tests.consent_clips import RATE, read_clip
from tests.service.consent.browser import Browser, LoopbackServer, write_wav, write_y4m
from tests.service.consent.conftest import Verifier, pinned_request

pytestmark = pytest.mark.slow

SIDE = 384  # the fake camera's picture: smaller files, the face still ~110 px wide


def test_the_page_records_shows_the_prompts_uploads_and_is_verified(
        verifier: Verifier, clips, tmp_path: Path) -> None:
    request, token = pinned_request(verifier, clips)
    frames, audio = read_clip(clips.path("genuine"))
    video, sound = tmp_path / "camera.y4m", tmp_path / "microphone.wav"
    write_y4m([cv2.resize(f, (SIDE, SIDE), interpolation=cv2.INTER_AREA) for f in frames], 25,
              video)
    write_wav(audio, RATE, sound)
    (tmp_path / "profile").mkdir()
    app = create_app(verifier.settings, engine=verifier.world.engine)
    with LoopbackServer(app) as base:
        browser = Browser(tmp_path / "profile", video, sound)
        try:
            browser.open(f"{base}/capture/{token}")
            assert "consent to" in browser.evaluate("document.getElementById('script').innerText")
            browser.evaluate("document.getElementById('start').click()", gesture=True)
            shown = browser.wait_for("!document.getElementById('prompt').hidden && "
                                     "document.getElementById('prompt').innerText", 20,
                                     "the first prompt")
            decision = browser.wait_for("document.body.getAttribute('data-decision')", 150,
                                        "the page to show the decision")
            status = browser.evaluate("document.getElementById('status').innerText")
        finally:
            browser.close()
    assert shown == clips.schedule.prompts[0].text
    with Session(verifier.world.engine) as session:
        stored = session.get(ConsentRequest, uuid.UUID(request["id"]))
        asset = session.get(Asset, stored.evidence_asset_id)
        checks = {c.name: (c.verdict, c.score, c.reason_code) for c in checks_of(session,
                                                                             stored.id)}
    assert decision == "granted", (status, stored.reasons, checks)
    assert asset.media_type == "video/webm" and stored.evidence_source.value == "capture"
    reported = {p["id"]: p["shown_at"] for p in stored.prompt_timeline["prompts"]}
    for prompt in clips.schedule.prompts:  # the page showed each prompt at its moment
        assert abs(reported[prompt.id] - prompt.at_seconds) < 1.0, reported
    assert asset.duration_seconds == pytest.approx(clips.schedule.duration_seconds, abs=1.0)
