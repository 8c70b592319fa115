"""The application's consent gate (``real_gate``) on PostgreSQL and SQLite: real dlib encodings
of real photos, sealed as the upload path seals them, the consent table's states, and the gate
as the job code and the worker hold it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.auth import create_organisation
from service.db import AuditContext
from service.db.models import Asset, AssetKind, Consent, ConsentStatus, Subject
from service.domain import Owner, UploadLimits, ValidatedUpload, validate_portrait
from service.domain.assets import new_asset_row
from service.domain.face_templates import TemplateBox
from service.errors import (
    ConsentRefused,
    KeysError,
    SealingKeyMismatch,
    SubjectReferenceUnreadable,
)
from service.jobs import GateRequest, GateStage, make_celery, submit_job
from service.jobs.consent import DatabaseConsentGate, real_gate
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.service.api.conftest import biden, face
from tests.service.jobs.conftest import speech_wav
from tests.service.sealed_support import portrait_version_1

CTX = AuditContext(actor="system:test", request_id="req-consent-gate")
NOW = datetime.now(UTC)


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
    portraits: dict[str, uuid.UUID]  # job portraits by name (none of them a reference)
    audio_id: uuid.UUID
    reference_id: uuid.UUID
    box: TemplateBox  # the deployment's face template key (data_dir/face-template-key)


def _scene(session: Session, tmp_path: Path, portraits: dict[str, ValidatedUpload]) -> Scene:
    store = LocalBlobStore(tmp_path / "blobs")
    box = TemplateBox.from_settings(Settings(data_dir=tmp_path))
    org = create_organisation(session, CTX, name="Studio", declared_use_case="dubbing")
    owner = Owner(org.id, is_test=False)
    subject = Subject(organisation_id=org.id, display_name="Ada", created_at=NOW)
    session.add(subject)
    session.flush()
    reference = new_asset_row(store, owner, portraits["obama"], subject_id=subject.id, now=NOW,
                              is_reference=True, box=box)
    session.add(reference)
    consent = Consent(subject_id=subject.id, organisation_id=org.id,
                      status=ConsentStatus.APPROVED, purposes=["dubbing"],
                      expires_at=NOW + timedelta(days=30), requested_at=NOW, reviewed_at=NOW)
    session.add(consent)
    ids = {}
    for name in ("obama2", "biden"):
        row = new_asset_row(store, owner, portraits[name], subject_id=None, now=NOW, box=box)
        session.add(row)
        ids[name] = row
    # A portrait row with no encoding (not validated through the upload path).
    bare = new_asset_row(store, owner, portraits["obama2"], subject_id=None, now=NOW, box=box)
    bare.face_encoding = None
    session.add(bare)
    ids["bare"] = bare
    blob = store.put_bytes(speech_wav(1.0))
    audio = Asset(organisation_id=org.id, kind=AssetKind.AUDIO, sha256=blob.sha256,
                  size_bytes=blob.size_bytes, media_type="audio/wav", storage_key=blob.key)
    session.add(audio)
    session.flush()
    return Scene(org.id, subject.id, consent, {k: v.id for k, v in ids.items()}, audio.id,
                 reference.id, box)


def _ask(session: Session, scene: Scene, portrait: str = "obama2", *, org_id=None,
         purpose: str = "dubbing", now: datetime = NOW, threshold: float = 0.5,
         box: TemplateBox | None | str = "scene"):
    request = GateRequest(org_id or scene.org_id, scene.subject_id, purpose,
                          scene.portraits[portrait], scene.audio_id, False, now, GateStage.RUN)
    templates = scene.box if box == "scene" else box
    assert not isinstance(templates, str)
    return DatabaseConsentGate(threshold, templates)(session, request)


def test_the_gate_reads_the_portraits_encoding_and_the_consent(db_session, tmp_path,
                                                               portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    allowed = _ask(db_session, scene)
    assert allowed.allowed and allowed.consent_id == scene.consent.id
    assert 0.3 < allowed.face.distance < 0.45  # obama2 against the obama reference
    mismatch = _ask(db_session, scene, "biden")
    assert mismatch.reason == "face_mismatch" and mismatch.face.distance > 0.7
    assert _ask(db_session, scene, "bare").reason == "face_mismatch"
    # The threshold is the settings' value: tight enough, even the same person is refused.
    assert _ask(db_session, scene, threshold=0.2).reason == "face_mismatch"
    assert _ask(db_session, scene, purpose="advertising").reason == "purpose_not_covered"
    assert _ask(db_session, scene, now=NOW + timedelta(days=31)).reason == "consent_expired"
    # Another partner naming these ids holds no consent - and the portrait is not its own.
    other = create_organisation(db_session, CTX, name="Other", declared_use_case="ads")
    assert _ask(db_session, scene, org_id=other.id).reason == "face_mismatch"
    scene.consent.status = ConsentStatus.REVOKED
    db_session.flush()
    assert _ask(db_session, scene).reason == "consent_revoked"


def test_submit_job_with_the_real_gate_records_the_refusal(db_session, tmp_path,
                                                           portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    gate = real_gate(Settings(data_dir=tmp_path, face_match_threshold=0.5))

    def submit(portrait: str):
        return submit_job(db_session, CTX, organisation_id=scene.org_id,
                          subject_id=scene.subject_id, purpose="dubbing",
                          portrait_asset_id=scene.portraits[portrait],
                          audio_asset_id=scene.audio_id, controls={"steps": 2},
                          idempotency_key=None, gate=gate, now=NOW, transcript="Please bring me the blue map.")

    assert submit("obama2").job.consent_id == scene.consent.id
    with pytest.raises(ConsentRefused) as refused:
        submit("biden")
    assert refused.value.context["reason"] == "face_mismatch"


def test_a_ciphertext_moved_to_another_portrait_is_refused_not_matched(db_session, tmp_path,
                                                                      portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    biden_row = db_session.get(Asset, scene.portraits["biden"])
    reference = db_session.get(Asset, scene.reference_id)
    assert _ask(db_session, scene, "biden").face.distance > 0.7  # another person, as stored
    # Obama's sealed encoding copied onto Biden's job portrait would pass if it opened.
    biden_row.face_encoding = reference.face_encoding
    db_session.flush()
    with pytest.raises(KeysError, match="does not decrypt"):
        scene.box.open_portrait(biden_row.id, biden_row.organisation_id, biden_row.face_encoding)
    moved = _ask(db_session, scene, "biden")
    assert not moved.allowed and moved.reason == "face_mismatch"
    assert "does not decrypt" in moved.message and moved.face.distance is None
    # Plain float32 bytes (as written before sealing) are not an encoding either.
    biden_row.face_encoding = portraits["obama2"].face_encoding.astype("<f4").tobytes()
    db_session.flush()
    plain = _ask(db_session, scene, "biden")
    assert plain.reason == "face_mismatch" and "unknown format" in plain.message
    assert _ask(db_session, scene, "obama2").allowed  # the untouched rows still open


def test_a_wrong_key_is_an_operators_error_not_a_refusal(db_session, tmp_path,
                                                        portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    # Another key opens neither the portrait nor the subject's reference: raised, so a
    # misconfigured deployment does not quietly refuse every job as someone else's face.
    with pytest.raises(SealingKeyMismatch, match="does not decrypt"):
        _ask(db_session, scene, box=TemplateBox(b"k" * 32))
    with pytest.raises(KeysError, match="no face template key"):
        _ask(db_session, scene, box=None)
    # The same for values stored before rotation, which name no key: none opens, none refused.
    for asset_id in (scene.portraits["obama2"], scene.reference_id):
        row = db_session.get(Asset, asset_id)
        row.face_encoding = portrait_version_1(b"v" * 32, row.id, row.organisation_id,
                                               scene.box.open_portrait(row.id,
                                                                       row.organisation_id,
                                                                       row.face_encoding))
    db_session.flush()
    with pytest.raises(SealingKeyMismatch, match="open none"):
        _ask(db_session, scene, box=TemplateBox(b"k" * 32))
    # With the key that sealed them among the previous keys, they open and the job is allowed.
    assert _ask(db_session, scene, box=TemplateBox(b"k" * 32, [b"v" * 32])).allowed


def test_a_reference_that_does_not_open_is_named_never_skipped(db_session, tmp_path,
                                                               portraits) -> None:
    scene = _scene(db_session, tmp_path, portraits)
    owner = Owner(scene.org_id, is_test=False)
    second = new_asset_row(LocalBlobStore(tmp_path / "blobs"), owner, portraits["obama2"],
                           subject_id=scene.subject_id, now=NOW, is_reference=True,
                           box=scene.box)
    db_session.add(second)
    db_session.flush()
    assert _ask(db_session, scene).allowed
    # The first reference's ciphertext copied onto the second: the key opens the first, so
    # the second row is bad, and the job is neither matched against fewer references nor a 500.
    second.face_encoding = db_session.get(Asset, scene.reference_id).face_encoding
    db_session.flush()
    with pytest.raises(SubjectReferenceUnreadable) as unreadable:
        _ask(db_session, scene)
    assert unreadable.value.context == {"asset_ids": [str(second.id)],
                                        "subject_id": str(scene.subject_id)}
    # A version-1 reference that the key does not open, beside one it opens: the same.
    second.face_encoding = portrait_version_1(b"v" * 32, second.id, scene.org_id,
                                              portraits["obama2"].face_encoding)
    db_session.flush()
    with pytest.raises(SubjectReferenceUnreadable):
        _ask(db_session, scene)


def test_workers_default_to_the_real_gate(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, face_match_threshold=0.45)
    app = make_celery(settings)
    try:
        gate = app.consent_gate
        assert isinstance(gate, DatabaseConsentGate) and gate.threshold == 0.45
        assert gate.templates is not None  # it can open live-capture face templates
    finally:
        app.close()
