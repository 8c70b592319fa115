"""Consent evidence verified by a real worker, with real consent clips (``tests.consent_clips``:
a real photograph animated by the model, espeak-ng reading the script): each case ends with
the right decision, its reasons, and what the decision leaves behind.

Rendering a clip for every fresh random challenge would cost seconds per test, so these
requests are issued by the API as usual and then pinned to the clips' own challenge and
schedule (what the checks read from the request); issuing challenges is ``test_requests.py``.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.engine import make_session_factory, session_scope
from service.db.models import FaceTemplate, WebhookDelivery
from service.db.types import utcnow
from service.domain.face_templates import TemplateBox
from service.domain.gate import SqlConsentFacts, check_consent
from service.domain.uploads import UploadLimits, validate_portrait
from service.keys import watermark_key
from tests.consent_clips import ConsentClips, read_clip, write_clip
from tests.service.api.conftest import biden, expiry, face
from tests.service.consent.conftest import (
    Verifier,
    audit_events,
    capture,
    pinned_request,
    timeline,
)

pytestmark = pytest.mark.slow


def officer_view(verifier: Verifier, consent_id: str) -> dict:
    world = verifier.world
    seen = world.client.get(f"/v1/consents/{consent_id}", headers=world.officer())
    assert seen.status_code == 200, seen.text
    return seen.json()


def test_a_genuine_capture_is_granted_and_becomes_the_reference(verifier: Verifier,
                                                               clips: ConsentClips) -> None:
    world = verifier.world
    hook = world.client.post("/v1/webhooks", headers=world.headers(), json={
        "url": "http://127.0.0.1:9/consent", "event_types": ["consent_request.decided"]})
    assert hook.status_code == 201, hook.text
    request, token = pinned_request(verifier, clips, max_jobs=3)
    data = clips.path("genuine").read_bytes()
    capture(verifier, token, data, timeline(clips))
    decided = verifier.wait_decided(request["id"])
    assert (decided["status"], decided["decision"]) == ("granted", "pass"), decided
    assert decided["consent_status"] == "approved" and decided["reasons"] == []
    assert all(c["passed"] for c in decided["checks"]) and len(decided["checks"]) == 5
    assert "score" not in decided["checks"][0]  # partners never see the scores
    consent = officer_view(verifier, decided["consent_id"])
    assert consent["basis"] == "verified_capture" and consent["max_jobs"] == 3
    assert consent["purposes"] == ["education"] and consent["reviewed_at"]
    verification = consent["verification"]
    assert verification["evidence_sha256"] == hashlib.sha256(data).hexdigest()
    assert {c["name"] for c in verification["checks"]} == {
        "synthetic", "spoken_script", "face_match", "liveness", "prompts"}
    assert verification["versions"]["checks"] and verification["source"] == "capture"
    face_match = next(c for c in verification["checks"] if c["name"] == "face_match")
    assert 0 < face_match["score"] < face_match["threshold"]
    actions = [e.action for e in audit_events(world.engine, f"consent_request:{request['id']}")]
    assert actions == ["partner:consent:request", "subject:consent:capture_start",
                       "subject:consent:capture", "consent:consent:verify"]
    [approval] = audit_events(world.engine, f"consent:{decided['consent_id']}")
    assert (approval.action, approval.actor) == ("consent:consent:approve",
                                                 "system:consent-verifier")
    _the_capture_is_the_reference(verifier, request["subject_id"])
    _the_subject_gets_their_page_once(verifier, token)
    with Session(world.engine) as session:
        [delivery] = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == uuid.UUID(hook.json()["id"]))).all()
    assert delivery.event_type == "consent_request.decided"
    assert json.loads(delivery.body)["data"] == {"request_id": request["id"],
                                                 "decision": "pass"}


def _the_subject_gets_their_page_once(verifier: Verifier, token: str) -> None:
    """The capture page's next poll hands the subject their private page, and only once."""
    client = verifier.world.client
    first = client.get(f"/capture/{token}/status")
    assert first.status_code == 200, first.text
    link = first.json()["subject_link"]
    assert link and "/s/" in link
    again = client.get(f"/capture/{token}/status")
    assert again.status_code == 200 and again.json()["subject_link"] is None
    page = client.get("/s/" + link.rsplit("/s/", 1)[1], headers={"Accept": "application/json"})
    assert page.status_code == 200, page.text


def _the_capture_is_the_reference(verifier: Verifier, subject_id: str) -> None:
    """Job portraits are now matched against the sealed capture, not the partner's photos."""
    limits = UploadLimits.from_settings(verifier.settings)
    box = TemplateBox.from_settings(verifier.settings)
    obama, other = (validate_portrait(data, limits).face_encoding
                    for data in (face("obama.jpg"), biden()))
    with session_scope(make_session_factory(verifier.world.engine)) as session:
        [template] = session.scalars(select(FaceTemplate).where(
            FaceTemplate.subject_id == uuid.UUID(subject_id))).all()
        assert template.ciphertext and template.consent_id
        facts = SqlConsentFacts(box).subject_facts(session, uuid.UUID(subject_id))
        [reference] = facts.reference_encodings
        assert reference.tobytes() == box.open(template.id, template.subject_id,
                                               template.ciphertext).tobytes()

        def ask(encoding):
            return check_consent(session, organisation_id=verifier.world.org_id,
                                 subject_id=uuid.UUID(subject_id), purpose="education",
                                 portrait_encoding=encoding, now=utcnow(), templates=box)

        assert ask(obama).allowed
        assert ask(other).reason == "face_mismatch"


def failing_clip(verifier: Verifier, clips: ConsentClips, case: str) -> bytes:
    """The clip of a failing case, built from the one rendered genuine clip where it can be."""
    if case == "wrong_words":  # the same pictures, other words said at the prompt
        frames, _ = read_clip(clips.path("genuine"))
        audio = clips.audio(clips.performance("wrong_words"))
        return write_clip(clips.directory / "wrong-words.mp4", frames, audio).read_bytes()
    if case == "watermarked":
        return clips.path(case, watermark_key=watermark_key(verifier.settings)).read_bytes()
    return clips.path("genuine" if case == "wrong_person" else case).read_bytes()


@pytest.mark.parametrize(("case", "code"), [
    ("wrong_person", "face_mismatch"),  # the partner's portraits show someone else (Biden)
    ("wrong_words", "wrong_words"),
    ("still_photo", "still_image"),
    ("watermarked", "synthetic_watermark"),
])
def test_failing_evidence_is_rejected_with_its_reason(verifier: Verifier, clips: ConsentClips,
                                                      case: str, code: str) -> None:
    reference = biden() if case == "wrong_person" else None
    request, token = pinned_request(verifier, clips, reference=reference)
    capture(verifier, token, failing_clip(verifier, clips, case), timeline(clips))
    decided = verifier.wait_decided(request["id"])
    assert (decided["status"], decided["decision"]) == ("rejected", "fail"), decided
    assert decided["consent_status"] == "rejected"
    assert code in [r["code"] for r in decided["reasons"]], decided["reasons"]
    assert all(r["message"] for r in decided["reasons"])
    consent = officer_view(verifier, decided["consent_id"])
    assert consent["reason"] and consent["verification"]["decision"] == "fail"
    with Session(verifier.world.engine) as session:  # nothing biometric kept for a failure
        assert not session.scalars(select(FaceTemplate).where(
            FaceTemplate.subject_id == uuid.UUID(request["subject_id"]))).all()


def test_borderline_evidence_goes_to_an_officer(verifier: Verifier,
                                                clips: ConsentClips) -> None:
    """The page reports one head-turn prompt at another moment (it lagged): the turn is not
    where the checks look, the rest is fine - an officer decides."""
    world = verifier.world
    request, token = pinned_request(verifier, clips)
    first = clips.schedule.prompts[0]
    late = {first.id: clips.schedule.prompts[2].at_seconds}
    capture(verifier, token, clips.path("genuine").read_bytes(), timeline(clips, late))
    decided = verifier.wait_decided(request["id"])
    assert (decided["status"], decided["decision"]) == ("review", "review"), decided
    assert [r["code"] for r in decided["reasons"]] == ["prompts_partly_met"]
    queue = world.client.get("/v1/consents", params={"status": "pending", "limit": 200},
                             headers=world.officer()).json()["items"]
    [pending] = [c for c in queue if c["id"] == decided["consent_id"]]
    assert pending["verification"]["assessed_decision"] == "review"
    assert pending["evidence_asset_id"]
    approved = world.client.post(f"/v1/consents/{pending['id']}/approve",
                                 headers=world.officer(),
                                 json={"purposes": ["education"], "expires_at": expiry(30)})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"


def test_a_partners_finished_clip_always_goes_to_an_officer(verifier: Verifier,
                                                            clips: ConsentClips) -> None:
    world = verifier.world
    request, _ = pinned_request(verifier, clips)
    sent = world.client.post(f"/v1/consent-requests/{request['id']}/evidence",
                             headers=world.headers(),
                             files={"file": ("consent.mp4", clips.path("genuine").read_bytes(),
                                             "video/mp4")})
    assert sent.status_code == 202, sent.text
    decided = verifier.wait_decided(request["id"])
    assert decided["status"] == "review" and decided["evidence_source"] == "partner_upload"
    consent = officer_view(verifier, decided["consent_id"])
    assert consent["status"] == "pending"
    assert consent["verification"]["assessed_decision"] == "pass"  # still scored
    again = world.client.post(f"/v1/consent-requests/{request['id']}/evidence",
                              headers=world.headers(),
                              files={"file": ("c.mp4", clips.path("genuine").read_bytes(),
                                              "video/mp4")})
    assert again.status_code == 409 and again.json()["error"]["code"] == "challenge_used"
