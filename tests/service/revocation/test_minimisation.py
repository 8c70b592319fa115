"""The retention sweeps of data minimisation (PostgreSQL and SQLite): consent evidence deleted
once decided (hash kept), pending evidence kept for the officer; face templates deleted when
the consents they served have all ended, kept while one lives or a registration is under way."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from service.db.audit import AuditContext
from service.db.models import Asset, Consent, ConsentStatus, FaceTemplate, Subject
from service.domain.assets import Owner, new_asset_row
from service.domain.face_templates import TemplateBox, store_template
from service.jobs.retention import delete_unneeded_templates, purge_decided_evidence
from tests.service.revocation.conftest import NOW, encoding_of, events, make_scene

SWEEP = AuditContext(actor="system:retention")


def test_evidence_goes_after_the_decision_and_its_hash_stays(
        db_session: Session, store, obama) -> None:
    decided = make_scene(db_session, store, obama)
    waiting = make_scene(db_session, store, obama, partner="Other Studio")
    pending = db_session.get(Consent, waiting.consent_id)
    pending.status, pending.reviewed_at = ConsentStatus.PENDING, None
    db_session.flush()
    evidence = db_session.get(Asset, decided.evidence_id)
    key, sha = evidence.storage_key, evidence.sha256

    assert purge_decided_evidence(db_session, SWEEP, store, retention_days=7,
                                  now=NOW + timedelta(days=1)) == []
    purged = purge_decided_evidence(db_session, SWEEP, store, retention_days=0,
                                    now=NOW + timedelta(seconds=1))
    assert purged == [decided.evidence_id]
    db_session.refresh(evidence)
    assert evidence.purged_at is not None and evidence.sha256 == sha
    assert store.exists(key)  # the bytes go once the purge commits
    db_session.commit()
    assert not store.exists(key)
    assert db_session.get(Asset, waiting.evidence_id).purged_at is None  # pending: kept
    [event] = [e for e in events(db_session, f"asset:{decided.evidence_id}")]
    assert event.action == "retention:asset:purge" and event.payload["sha256"] == sha


def test_templates_go_when_every_consent_has_ended(db_session: Session, store, obama) -> None:
    box = TemplateBox(bytes(32))
    ending = make_scene(db_session, store, obama, expires_at=NOW + timedelta(days=1))
    living = make_scene(db_session, store, obama, partner="Living Studio",
                        expires_at=NOW + timedelta(days=90))
    sealed = store_template(db_session, box, subject_id=ending.subject_id,
                            consent_id=ending.consent_id, request_id=None,
                            encoding=encoding_of(obama), now=NOW)
    registering = Subject(organisation_id=living.organisation_id, display_name="New",
                          created_at=NOW)  # references uploaded, no consent row yet
    db_session.add(registering)
    db_session.flush()
    early = new_asset_row(store, Owner(living.organisation_id, False), obama,
                          subject_id=registering.id, now=NOW, is_reference=True, box=box)
    db_session.add(early)
    db_session.flush()

    assert delete_unneeded_templates(db_session, SWEEP, now=NOW) == []
    later = NOW + timedelta(days=2)
    assert delete_unneeded_templates(db_session, SWEEP, now=later) == [ending.subject_id]
    db_session.refresh(sealed)
    assert sealed.ciphertext is None and sealed.erased_at == later
    assert db_session.get(Asset, ending.reference_id).face_encoding is None
    assert db_session.get(Asset, living.reference_id).face_encoding is not None
    assert db_session.get(Asset, early.id).face_encoding is not None
    assert db_session.get(FaceTemplate, sealed.id).subject_id == ending.subject_id
    [event] = [e for e in events(db_session, f"subject:{ending.subject_id}")
               if e.action == "retention:subject:delete_templates"]
    assert event.payload == {"reason": "consent_ended", "face_templates": 1,
                             "portrait_encodings": 1}
    assert delete_unneeded_templates(db_session, SWEEP, now=later) == []  # nothing left
