"""``check_consent`` over the database (PostgreSQL and SQLite): real reference encodings, the
officer's decisions, and the gate's answer after each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from policy.consent import Reason
from service.auth import create_organisation, create_user, grant_role
from service.db import AuditContext
from service.db.models import Role
from service.domain import (
    Owner,
    SubjectRequest,
    UploadLimits,
    approve_consent,
    check_consent,
    register_subject,
    revoke_consent,
    store_asset,
    validate_evidence,
    validate_portrait,
)
from service.domain.face_templates import TemplateBox
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.service.api.conftest import PDF, biden, face

CTX = AuditContext(actor="system:test", request_id="req-gate")
NOW = datetime.now(UTC)
VOCABULARY = ("dubbing", "advertising", "education")
BOX = TemplateBox(bytes(range(32)))


@pytest.fixture(scope="module")
def encodings() -> dict[str, object]:
    limits = UploadLimits.from_settings(Settings())
    return {name: validate_portrait(data, limits) for name, data in
            (("obama", face("obama.jpg")), ("obama2", face("obama2.jpg")), ("biden", biden()))}


def test_gate_follows_the_consent_life(db_session: Session, tmp_path: Path, encodings) -> None:
    store = LocalBlobStore(tmp_path)
    org = create_organisation(db_session, CTX, name="Studio", declared_use_case="dubbing")
    officer = create_user(db_session, CTX, email=f"o-{tmp_path.name}@x.test", display_name="O")
    grant_role(db_session, CTX, user_id=officer.id, role=Role.COMPLIANCE_OFFICER)
    owner = Owner(org.id, is_test=False)
    reference = store_asset(db_session, CTX, store, owner=owner, upload=encodings["obama"],
                            box=BOX, face_threshold=0.5)
    evidence = validate_evidence(PDF, UploadLimits.from_settings(Settings()))
    subject, consent = register_subject(
        db_session, CTX, store, owner=owner,
        request=SubjectRequest("Ada", None, (reference.id,), frozenset({"dubbing"}),
                               NOW + timedelta(days=30)),
        evidence=evidence, vocabulary=VOCABULARY, face_threshold=0.5, box=BOX)

    def gate(name: str = "obama2", purpose: str = "dubbing", org_id=org.id, now=NOW):
        return check_consent(db_session, organisation_id=org_id, subject_id=subject.id,
                             purpose=purpose, portrait_encoding=encodings[name].face_encoding,
                             now=now, threshold=0.5, templates=BOX)

    assert gate().reason == Reason.CONSENT_PENDING
    approve_consent(db_session, CTX, consent_id=consent.id, officer_id=officer.id,
                    purposes=["dubbing"], expires_at=NOW + timedelta(days=10),
                    vocabulary=VOCABULARY)
    allowed = gate()
    assert allowed.allowed and 0.3 < allowed.face.distance < 0.45  # obama vs obama2
    mismatch = gate("biden")
    assert mismatch.reason == Reason.FACE_MISMATCH and mismatch.face.distance > 0.7
    assert gate(purpose="advertising").reason == Reason.PURPOSE_NOT_COVERED
    assert gate(now=NOW + timedelta(days=11)).reason == Reason.CONSENT_EXPIRED
    other = create_organisation(db_session, CTX, name="Other", declared_use_case="ads")
    assert gate(org_id=other.id).reason == Reason.PARTNER_NOT_COVERED
    revoke_consent(db_session, CTX, consent_id=consent.id, officer_id=officer.id,
                   reason="withdrawn")
    assert gate().reason == Reason.CONSENT_REVOKED
