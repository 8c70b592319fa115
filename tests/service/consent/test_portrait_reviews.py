"""Officers' reviews of job portraits in the live-capture match's officer band, over HTTP (real
PostgreSQL, Redis and a private broker): the refusal files the review, an officer accepts it
(the same job then passes at submission and at run) or rejects it (refusals say so), only
officers see the queue and the distance, and revocation or erasure leaves nothing usable."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db.models import (
    Asset,
    AuditEventRow,
    Consent,
    ConsentStatus,
    PortraitReview,
    WebhookDelivery,
)
from service.domain import Owner
from service.domain.assets import new_asset_row
from service.domain.face_templates import TemplateBox, store_template
from service.errors import ConsentRefused
from service.jobs import GateRequest, GateStage
from service.jobs.consent import real_gate
from service.jobs.gate import check_consent
from service.storage import LocalBlobStore
from tests.service.api.conftest import (  # noqa: F401 (pg_engine, redis_prefix: fixtures)
    World,
    error_code,
    pg_engine,
    redis_prefix,
)
from tests.service.api.test_jobs import (  # noqa: F401 (media: a fixture)
    NOW,
    Seeded,
    jobs_world,
    media,
    seed,
    submit,
)
from tests.service.jobs.conftest import PrivateRedis, private_redis  # noqa: F401 (a fixture)

BAND_DISTANCE = 0.60  # between pass (<= 0.55) and refuse (>= 0.65)


@pytest.fixture
def api(pg_engine: Engine, tmp_path: Path, redis_prefix: str,  # noqa: F811
        private_redis: PrivateRedis) -> Iterator[World]:  # noqa: F811
    # The partners' webhook receivers are on this machine: let the SSRF guard allow loopback.
    world = jobs_world(pg_engine, tmp_path, redis_prefix, private_redis,
                       webhook_allowed_networks=("127.0.0.1/32",))
    with world.client:
        yield world


def _template_at(encoding: np.ndarray, distance: float, seed: int = 5) -> np.ndarray:
    """A capture template exactly ``distance`` from a portrait's encoding."""
    direction = np.random.default_rng(seed).normal(size=128)
    return (encoding + distance * direction / np.linalg.norm(direction)).astype(np.float32)


def _captured(world: World, media, consent_id: str | uuid.UUID, subject_id: str) -> None:
    """The subject verified on camera under ``consent_id``: a template in the band of obama2."""
    with Session(world.engine) as session:
        store_template(session, TemplateBox.from_settings(world.settings),
                       subject_id=uuid.UUID(subject_id), consent_id=uuid.UUID(str(consent_id)),
                       request_id=None, now=NOW,
                       encoding=_template_at(media["obama2"].face_encoding, BAND_DISTANCE))
        session.commit()


def _band_scene(world: World, media) -> Seeded:
    seeded = seed(world, media)
    _captured(world, media, seeded.consent_id, seeded.subject_id)
    return seeded


def _another_portrait(world: World, media) -> str:
    """The same photo uploaded again: another asset, the same distance."""
    box = TemplateBox.from_settings(world.settings)
    with Session(world.engine) as session:
        row = new_asset_row(LocalBlobStore(world.settings.blob_root), Owner(world.org_id, False),
                            media["obama2"], subject_id=None, now=NOW, box=box)
        session.add(row)
        session.commit()
        return str(row.id)


def _refused(world: World, body: dict) -> dict:
    response = submit(world, body)
    assert response.status_code == 403, response.text
    assert error_code(response) == "consent_refused"
    error = response.json()["error"]
    assert "distance" not in error["details"] and "0.60" not in error["message"]
    return error


def _events(world: World, resource: str) -> list[AuditEventRow]:
    sequence_pending(world.engine)
    with Session(world.engine) as session:
        return list(session.scalars(select(AuditEventRow).where(
            AuditEventRow.resource == resource).order_by(AuditEventRow.seq)))


def _run_gate(world: World, seeded: Seeded, portrait_id: str) -> uuid.UUID:
    """What a worker asks before rendering (the application's gate, stage run)."""
    request = GateRequest(world.org_id, uuid.UUID(seeded.subject_id), "dubbing",
                          uuid.UUID(portrait_id), uuid.UUID(seeded.audio_id), False,
                          NOW + timedelta(seconds=1), GateStage.RUN)
    with Session(world.engine) as session:
        return check_consent(session, real_gate(world.settings), request)


def test_an_accepted_portrait_passes_at_submission_and_at_run(
        api: World, media) -> None:  # noqa: F811
    seeded = _band_scene(api, media)
    first = _refused(api, seeded.body())
    details = first["details"]
    assert details["reason"] == "face_match_review" and details["review_status"] == "pending"
    assert details["portrait_asset_id"] == seeded.portrait_id
    assert "compliance officer" in first["message"] and details["review_id"] in first["message"]
    review_id = details["review_id"]
    again = _refused(api, seeded.body(controls={"steps": 2, "seed": 2}))
    assert again["details"]["review_id"] == review_id  # filed once per portrait
    with Session(api.engine) as session:
        assert session.scalar(select(func.count()).select_from(PortraitReview).where(
            PortraitReview.subject_id == uuid.UUID(seeded.subject_id))) == 1

    queue = api.client.get("/v1/portrait-reviews", headers=api.officer(),
                           params={"limit": 200}).json()
    [listed] = [item for item in queue["items"] if item["id"] == review_id]
    assert listed["distance"] == pytest.approx(BAND_DISTANCE, abs=1e-3)
    assert listed["band"] == {"pass_max": 0.55, "refuse_from": 0.65}
    assert (listed["subject_id"], listed["subject_name"], listed["partner"]) == \
        (seeded.subject_id, "Ada", "Studio")
    assert listed["consent_id"] == seeded.consent_id and listed["status"] == "pending"
    photo = api.client.get(listed["portrait_url"], headers=api.officer())
    assert photo.status_code == 200
    assert hashlib.sha256(photo.content).hexdigest() == listed["portrait_sha256"]

    unexplained = api.client.post(f"/v1/portrait-reviews/{review_id}/accept",
                                  headers=api.officer(), json={})
    assert unexplained.status_code == 422
    accepted = api.client.post(f"/v1/portrait-reviews/{review_id}/accept", headers=api.officer(),
                               json={"reason": "same ears, scar and hairline as the capture"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["officer_id"] == str(api.officer_id)
    twice = api.client.post(f"/v1/portrait-reviews/{review_id}/reject", headers=api.officer(),
                            json={"reason": "changed my mind"})
    assert twice.status_code == 409 and error_code(twice) == "portrait_review_decided"

    queued = submit(api, seeded.body())
    assert queued.status_code == 202, queued.text
    assert queued.json()["consent_id"] == seeded.consent_id
    assert str(_run_gate(api, seeded, seeded.portrait_id)) == seeded.consent_id

    # Another portrait asset - even of the same photo - is not covered: it gets its own review.
    other = _another_portrait(api, media)
    refused = _refused(api, seeded.body(portrait_asset_id=other))
    assert refused["details"]["reason"] == "face_match_review"
    assert refused["details"]["review_id"] != review_id
    with pytest.raises(ConsentRefused) as at_run:
        _run_gate(api, seeded, other)
    assert at_run.value.context["reason"] == "face_match_review"

    actions = [(e.action, e.actor) for e in _events(api, f"portrait_review:{review_id}")]
    assert actions == [("consent:portrait_review:file", "system:consent-gate"),
                       ("compliance:portrait_review:view", f"user:{api.officer_id}"),
                       ("compliance:portrait_review:accept", f"user:{api.officer_id}")]


def test_a_rejected_portrait_is_refused_naming_the_rejection(
        api: World, media) -> None:  # noqa: F811
    seeded = _band_scene(api, media)
    hook = api.client.post("/v1/webhooks", headers=api.headers(), json={
        "url": "http://127.0.0.1:9/reviews", "event_types": ["portrait_review.decided"]})
    assert hook.status_code == 201, hook.text
    review_id = _refused(api, seeded.body())["details"]["review_id"]
    rejected = api.client.post(f"/v1/portrait-reviews/{review_id}/reject", headers=api.officer(),
                               json={"reason": "another person: the ears differ"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    # The partner's endpoint hears of the decision (a thin event: ids and status only).
    with Session(api.engine) as session:
        [delivery] = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == uuid.UUID(hook.json()["id"]))).all()
    assert delivery.event_type == "portrait_review.decided"
    assert json.loads(delivery.body)["data"] == {
        "review_id": review_id, "subject_id": seeded.subject_id, "status": "rejected"}

    refusal = _refused(api, seeded.body())
    assert refusal["details"] | {"subject_id": None} == {
        "reason": "face_match_rejected", "review_id": review_id, "review_status": "rejected",
        "portrait_asset_id": seeded.portrait_id, "subject_id": None}
    assert "rejected" in refusal["message"] and "the ears differ" in refusal["message"]
    with pytest.raises(ConsentRefused) as at_run:
        _run_gate(api, seeded, seeded.portrait_id)
    assert at_run.value.context["reason"] == "face_match_rejected"

    pending = api.client.get("/v1/portrait-reviews", headers=api.officer(),
                             params={"limit": 200}).json()["items"]
    assert review_id not in {item["id"] for item in pending}
    decided = api.client.get("/v1/portrait-reviews", headers=api.officer(),
                             params={"status": "rejected", "limit": 200}).json()["items"]
    assert review_id in {item["id"] for item in decided}
    [event] = [e for e in _events(api, f"portrait_review:{review_id}")
               if e.action == "compliance:portrait_review:reject"]
    assert event.outcome == "denied"


def test_only_officers_see_reviews_and_only_the_partner_its_own(
        api: World, media) -> None:  # noqa: F811
    seeded = _band_scene(api, media)
    review_id = _refused(api, seeded.body())["details"]["review_id"]
    for key in (api.partner_key, api.other_key):
        headers = api.headers(key)
        assert api.client.get("/v1/portrait-reviews", headers=headers).status_code == 403
        assert api.client.get(f"/v1/portrait-reviews/{review_id}",
                              headers=headers).status_code == 403
        assert api.client.get(f"/v1/portrait-reviews/{review_id}/portrait",
                              headers=headers).status_code == 403
        accept = api.client.post(f"/v1/portrait-reviews/{review_id}/accept", headers=headers,
                                 json={"reason": "looks fine to me"})
        assert accept.status_code == 403
    own = api.client.get(f"/v1/subjects/{seeded.subject_id}/portrait-reviews/{review_id}",
                         headers=api.headers())
    assert own.status_code == 200, own.text
    assert own.json()["status"] == "pending" and "distance" not in own.json()
    assert "band" not in own.json() and "portrait_sha256" not in own.json()
    stranger = api.client.get(f"/v1/subjects/{seeded.subject_id}/portrait-reviews/{review_id}",
                              headers=api.headers(api.other_key))
    assert stranger.status_code == 404
    with Session(api.engine) as session:
        review = session.get(PortraitReview, uuid.UUID(review_id))
        assert review is not None and review.status == "pending"  # nothing was decided


def test_revocation_voids_an_accepted_review(api: World, media) -> None:  # noqa: F811
    seeded = _band_scene(api, media)
    with Session(api.engine) as session:  # an older consent of the same partner still stands
        older = Consent(subject_id=uuid.UUID(seeded.subject_id), organisation_id=api.org_id,
                        status=ConsentStatus.APPROVED, purposes=["dubbing"],
                        expires_at=NOW + timedelta(days=30),
                        requested_at=NOW - timedelta(days=1))
        session.add(older)
        session.commit()
        older_id = older.id
    _captured(api, media, older_id, seeded.subject_id)
    review_id = _refused(api, seeded.body())["details"]["review_id"]
    assert api.client.post(f"/v1/portrait-reviews/{review_id}/accept", headers=api.officer(),
                           json={"reason": "the same person"}).status_code == 200
    assert submit(api, seeded.body()).status_code == 202

    revoked = api.client.post(f"/v1/consents/{seeded.consent_id}/revoke", headers=api.officer(),
                              json={"reason": "the subject withdrew"})
    assert revoked.status_code == 200, revoked.text
    shown = api.client.get(f"/v1/portrait-reviews/{review_id}", headers=api.officer()).json()
    assert shown["status"] == "voided" and shown["voided_at"] is not None
    # The older consent now covers the request: the acceptance does not carry over to it.
    refusal = _refused(api, seeded.body(controls={"steps": 2, "seed": 3}))
    assert refusal["details"]["reason"] == "face_match_review"
    assert refusal["details"]["review_id"] != review_id
    with pytest.raises(ConsentRefused):
        _run_gate(api, seeded, seeded.portrait_id)
    late = api.client.post(f"/v1/portrait-reviews/{review_id}/accept", headers=api.officer(),
                           json={"reason": "again"})
    assert late.status_code == 409
    assert "consent:portrait_review:void" in {
        e.action for e in _events(api, f"portrait_review:{review_id}")}


def test_erasure_voids_reviews_and_deletes_the_reviewed_portrait(
        api: World, media) -> None:  # noqa: F811
    seeded = _band_scene(api, media)
    review_id = _refused(api, seeded.body())["details"]["review_id"]
    erased = api.client.post(f"/v1/subjects/{seeded.subject_id}/erase", headers=api.officer(),
                             json={"reason": "the subject asked to be forgotten"})
    assert erased.status_code == 200, erased.text
    with Session(api.engine) as session:
        review = session.get(PortraitReview, uuid.UUID(review_id))
        portrait = session.get(Asset, uuid.UUID(seeded.portrait_id))  # no job ever used it
        assert review is not None and review.status == "voided"
        assert portrait is not None and portrait.face_encoding is None
        assert portrait.purged_at is not None
    gone = api.client.get(f"/v1/portrait-reviews/{review_id}/portrait", headers=api.officer())
    assert gone.status_code == 404
