"""The provenance registry on PostgreSQL and SQLite: registering a released video (the path
``likeness generate`` takes) with its audit event, refusals, lookups, and the consent's
standing at the time of the question."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.auth import create_organisation
from service.db import AuditContext
from service.db.models import AuditEventRow, Consent, ConsentStatus, Subject
from service.domain.registry import (
    ConsentStanding,
    MatchedBy,
    consent_standing,
    lookup_artifact,
    register_artifact,
)
from service.errors import RequestInvalid, StateConflict

CLI = AuditContext(actor="system:cli")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _consent(session: Session) -> tuple:
    org = create_organisation(session, CLI, name="Studio", declared_use_case="dubbing")
    subject = Subject(organisation_id=org.id, display_name="Ada")
    session.add(subject)
    session.flush()
    consent = Consent(subject_id=subject.id, organisation_id=org.id, purposes=["dubbing"],
                      status=ConsentStatus.APPROVED, expires_at=NOW + timedelta(days=1))
    session.add(consent)
    session.flush()
    return org, subject, consent


def test_register_and_look_up(db_session: Session) -> None:
    org, subject, consent = _consent(db_session)
    asset_id, sha = secrets.token_hex(7), secrets.token_hex(32)
    artifact = register_artifact(db_session, asset_id.upper(), sha, organisation=org,
                                 subject=subject, consent=consent, created_by=CLI, now=NOW)
    assert artifact.asset_id == asset_id and artifact.job_id is None
    sequence_pending(db_session)
    event = db_session.scalar(select(AuditEventRow).where(
        AuditEventRow.resource == f"artifact:{asset_id}"))
    assert event is not None and event.action == "registry:artifact:register"
    assert event.actor == "system:cli" and event.payload["sha256"] == sha

    found = lookup_artifact(db_session, asset_id=asset_id, now=NOW)
    assert found is not None and found.matched_by == MatchedBy.ASSET_ID
    assert (found.organisation, found.subject, found.consent) == (org, subject, consent)
    assert found.standing == ConsentStanding.ACTIVE
    by_bytes = lookup_artifact(db_session, asset_id="00000000000000", sha256=sha, now=NOW)
    assert by_bytes is not None and by_bytes.matched_by == MatchedBy.SHA256
    assert lookup_artifact(db_session, asset_id="00000000000000", sha256="0" * 64) is None
    assert lookup_artifact(db_session, asset_id=asset_id,
                           now=NOW + timedelta(days=2)).standing == ConsentStanding.EXPIRED


def test_refusals(db_session: Session) -> None:
    asset_id, sha = secrets.token_hex(7), secrets.token_hex(32)
    register_artifact(db_session, asset_id, sha, created_by=CLI)  # an operator's own video
    with pytest.raises(StateConflict):
        register_artifact(db_session, asset_id, sha, created_by=CLI)
    for bad_id, bad_sha in (("xyz", sha), (secrets.token_hex(8), sha),
                            (secrets.token_hex(7), "nothex")):
        with pytest.raises(RequestInvalid):
            register_artifact(db_session, bad_id, bad_sha, created_by=CLI)
    assert lookup_artifact(db_session, asset_id=asset_id).standing == ConsentStanding.NONE


def test_consent_standing() -> None:
    approved = Consent(status=ConsentStatus.APPROVED, expires_at=NOW + timedelta(seconds=1))
    assert consent_standing(approved, NOW) == ConsentStanding.ACTIVE
    assert consent_standing(approved, NOW + timedelta(seconds=1)) == ConsentStanding.EXPIRED
    assert consent_standing(Consent(status=ConsentStatus.APPROVED, expires_at=None),
                            NOW) == ConsentStanding.ACTIVE
    assert consent_standing(Consent(status=ConsentStatus.REVOKED), NOW) \
        == ConsentStanding.REVOKED
    assert consent_standing(None, NOW) == ConsentStanding.NONE
