"""The gate's new facts, on PostgreSQL and SQLite: a consent's ``max_jobs`` (counted as the
stage requires) and live-capture face templates replacing the partner's reference portraits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from service.auth import create_organisation
from service.db import AuditContext
from service.db.models import Asset, AssetKind, Consent, ConsentStatus, Job, JobState, Subject
from service.domain import Owner, UploadLimits, ValidatedUpload, validate_portrait
from service.domain.assets import new_asset_row
from service.domain.face_templates import TemplateBox, store_template
from service.errors import ConsentRefused, KeysError
from service.jobs import GateRequest, GateStage, submit_job
from service.jobs.consent import DatabaseConsentGate
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.service.api.conftest import biden, face
from tests.service.jobs.conftest import speech_wav

CTX = AuditContext(actor="system:test", request_id="req-consent-scope")
NOW = datetime.now(UTC)
BOX = TemplateBox(bytes(range(32)))


@pytest.fixture(scope="module")
def portraits() -> dict[str, ValidatedUpload]:
    limits = UploadLimits.from_settings(Settings())
    return {name: validate_portrait(data, limits) for name, data in
            (("obama", face("obama.jpg")), ("obama2", face("obama2.jpg")), ("biden", biden()))}


@dataclass(frozen=True)
class Scene:
    org_id: uuid.UUID
    subject_id: uuid.UUID
    consent: Consent
    portraits: dict[str, uuid.UUID]
    audio_id: uuid.UUID


def _scene(session: Session, tmp_path: Path, portraits: dict[str, ValidatedUpload],
           max_jobs: int | None = None) -> Scene:
    store = LocalBlobStore(tmp_path / "blobs")
    org = create_organisation(session, CTX, name="Studio", declared_use_case="dubbing")
    owner = Owner(org.id, is_test=False)
    subject = Subject(organisation_id=org.id, display_name="Ada", created_at=NOW)
    session.add(subject)
    session.flush()
    session.add(new_asset_row(store, owner, portraits["obama"], subject_id=subject.id, now=NOW,
                              is_reference=True, box=BOX))
    consent = Consent(subject_id=subject.id, organisation_id=org.id,
                      status=ConsentStatus.APPROVED, purposes=["dubbing"], max_jobs=max_jobs,
                      expires_at=NOW + timedelta(days=30), requested_at=NOW, reviewed_at=NOW)
    session.add(consent)
    rows = {name: new_asset_row(store, owner, portraits[name], subject_id=None, now=NOW,
                                box=BOX)
            for name in ("obama2", "biden")}
    session.add_all(rows.values())
    blob = store.put_bytes(speech_wav(1.0))
    audio = Asset(organisation_id=org.id, kind=AssetKind.AUDIO, sha256=blob.sha256,
                  size_bytes=blob.size_bytes, media_type="audio/wav", storage_key=blob.key)
    session.add(audio)
    session.flush()
    return Scene(org.id, subject.id, consent, {k: v.id for k, v in rows.items()}, audio.id)


def _submit(session: Session, scene: Scene) -> Job:
    return submit_job(session, CTX, organisation_id=scene.org_id, subject_id=scene.subject_id,
                      purpose="dubbing", portrait_asset_id=scene.portraits["obama2"],
                      audio_asset_id=scene.audio_id, controls={"steps": 2},
                      idempotency_key=None, gate=DatabaseConsentGate(0.5, BOX), now=NOW,
                      transcript="Please bring me the blue map.").job


def _ask(session: Session, scene: Scene, portrait: str, *, stage: GateStage = GateStage.RUN,
         gate: DatabaseConsentGate = DatabaseConsentGate(0.5, BOX)):
    return gate(session, GateRequest(scene.org_id, scene.subject_id, "dubbing",
                                     scene.portraits[portrait], scene.audio_id, False, NOW,
                                     stage))


def test_max_jobs_counts_the_places_held(db_session, tmp_path, portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits, max_jobs=2)
    first, second = _submit(db_session, scene), _submit(db_session, scene)
    with pytest.raises(ConsentRefused) as refused:
        _submit(db_session, scene)
    assert refused.value.context["reason"] == "consent_exhausted"
    # A worker re-checking a queued job: its own place is already held, only finished jobs
    # of others count.
    assert _ask(db_session, scene, "obama2").allowed
    first.state = JobState.FAILED  # a failed job gives its place back
    db_session.flush()
    third = _submit(db_session, scene)
    for job in (second, third):
        job.state = JobState.SUCCEEDED
    db_session.flush()
    assert _ask(db_session, scene, "obama2").reason == "consent_exhausted"
    assert _ask(db_session, scene, "obama2", stage=GateStage.SUBMIT).reason \
        == "consent_exhausted"


def test_a_live_template_replaces_the_partners_portraits(db_session, tmp_path,
                                                         portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    assert _ask(db_session, scene, "obama2").allowed  # against the partner's obama portrait
    # Verified on camera as someone else: the portraits no longer count, the capture does.
    store_template(db_session, BOX, subject_id=scene.subject_id, consent_id=scene.consent.id,
                   request_id=None, encoding=portraits["biden"].face_encoding, now=NOW)
    refused = _ask(db_session, scene, "obama2")
    assert refused.reason == "face_mismatch" and refused.face.distance > 0.7
    assert _ask(db_session, scene, "biden").allowed
    with pytest.raises(KeysError):  # a template nobody can open is never skipped
        _ask(db_session, scene, "biden", gate=DatabaseConsentGate(0.5, None))
    with pytest.raises(KeysError):
        _ask(db_session, scene, "biden", gate=DatabaseConsentGate(0.5, TemplateBox(b"k" * 32)))


def test_a_template_counts_only_once_its_consent_is_approved(db_session, tmp_path,
                                                             portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    pending = Consent(subject_id=scene.subject_id, organisation_id=scene.org_id,
                      status=ConsentStatus.PENDING, purposes=["dubbing"], requested_at=NOW)
    db_session.add(pending)
    db_session.flush()
    store_template(db_session, BOX, subject_id=scene.subject_id, consent_id=pending.id,
                   request_id=None, encoding=portraits["biden"].face_encoding, now=NOW)
    assert _ask(db_session, scene, "obama2").allowed  # still the partner's portraits
    pending.status = ConsentStatus.APPROVED
    db_session.flush()
    assert _ask(db_session, scene, "obama2").reason == "face_mismatch"


def test_templates_are_sealed_to_their_row() -> None:
    template_id, subject_id = uuid.uuid4(), uuid.uuid4()
    encoding = np.linspace(-0.2, 0.2, 128, dtype=np.float32)
    sealed = BOX.seal(template_id, subject_id, encoding)
    assert encoding.tobytes() not in sealed
    assert np.array_equal(BOX.open(template_id, subject_id, sealed), encoding)
    for ids in ((uuid.uuid4(), subject_id), (template_id, uuid.uuid4())):
        with pytest.raises(KeysError):
            BOX.open(*ids, sealed)
    with pytest.raises(ValueError):
        BOX.seal(template_id, subject_id, np.zeros(64, np.float32))


def test_the_policy_names_an_exhausted_consent() -> None:
    from policy.consent import ConsentFacts, ConsentState, Reason, SubjectFacts, decide
    from policy.errors import ConsentExhausted

    encoding = np.linspace(-0.2, 0.2, 128, dtype=np.float32)
    org = uuid.uuid4()

    def facts(used: int) -> SubjectFacts:
        consent = ConsentFacts(uuid.uuid4(), org, ConsentState.APPROVED, frozenset({"dubbing"}),
                               None, NOW, max_jobs=2, jobs_used=used)
        return SubjectFacts(uuid.uuid4(), (consent,), (encoding,))

    assert decide(facts(1), organisation_id=org, purpose="dubbing",
                  portrait_encoding=encoding, now=NOW).allowed
    refused = decide(facts(2), organisation_id=org, purpose="dubbing",
                     portrait_encoding=encoding, now=NOW)
    assert refused.reason == Reason.CONSENT_EXHAUSTED and "2 job(s)" in refused.message
    with pytest.raises(ConsentExhausted):
        refused.raise_if_refused()


def _template_at(portrait: np.ndarray, distance: float) -> np.ndarray:
    """A capture template exactly ``distance`` from a portrait's encoding."""
    direction = np.random.default_rng(5).normal(size=128)
    return (portrait + distance * direction / np.linalg.norm(direction)).astype(np.float32)


@pytest.mark.parametrize(("distance", "reason"), [
    (0.52, None),  # photo to photo (0.5) this would be refused; filmed to photo it matches
    (0.60, "face_match_review"),
    (0.70, "face_mismatch"),
])
def test_job_portraits_meet_the_capture_template_with_the_capture_bands(
        db_session, tmp_path, portraits, distance: float, reason: str | None) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    store_template(db_session, BOX, subject_id=scene.subject_id, consent_id=scene.consent.id,
                   request_id=None, now=NOW,
                   encoding=_template_at(portraits["obama2"].face_encoding, distance))
    decision = _ask(db_session, scene, "obama2")
    assert decision.reason == reason and decision.allowed == (reason is None)
    assert decision.face.distance == pytest.approx(distance, abs=1e-4)
    assert (decision.face.threshold, decision.face.review_below) == pytest.approx((0.55, 0.65))
    if reason is None:
        assert _submit(db_session, scene).consent_id == scene.consent.id
        return
    with pytest.raises(ConsentRefused) as refused:
        _submit(db_session, scene)
    assert refused.value.context["reason"] == reason
    if reason == "face_match_review":  # the partner is told what to do, not the score
        assert "compliance officer" in refused.value.message
        assert f"{distance:.3f}" not in refused.value.message
