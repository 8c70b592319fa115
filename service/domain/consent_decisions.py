"""The decision on a verified consent request, in one transaction.

    pass   -> consent approved automatically with the requested scope (purposes, expiry,
              max jobs); basis ``verified_capture``; the captured face sealed as the subject's
              face template (job portraits are matched against it from now on)
    review -> a pending consent in the officers' queue with every score and the evidence; the
              template is kept with it and counts once an officer approves
    fail   -> a rejected consent whose reason lists what the partner can act on; no template

A partner's own finished clip is never granted by the checks: its ``pass`` becomes ``review``
(the assessed decision is kept beside the decision taken). The write is fenced on the request
still being ``verifying``, so a duplicate task delivery decides nothing twice. Every decision
is audited (``consent:consent:verify`` then approve / refer / reject, actor
``system:consent-verifier``) and announced to the partner's webhooks.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session

from policy.audit import Outcome
from service.db.audit import AuditContext, record
from service.db.models import (
    Consent,
    ConsentBasis,
    ConsentCheckResult,
    ConsentRequest,
    ConsentRequestStatus,
    ConsentStatus,
    EvidenceSource,
)
from service.domain.face_templates import TemplateBox, store_template
from service.webhooks.events import CONSENT_REQUEST_DECIDED, enqueue_organisation_event

VERIFIER = AuditContext(actor="system:consent-verifier")
MAX_REASON_CHARS = 2000


class Decision(enum.StrEnum):
    PASS = "pass"
    REVIEW = "review"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckOutcome:
    """One check as stored: ``verdict`` is the check's own pass/review/fail; ``reason_code``
    says why it did not pass (None when it did), ``reason`` is for people."""

    name: str
    score: float | None
    threshold: float | None
    passed: bool
    verdict: str
    reason_code: str | None
    reason: str | None


@dataclass(frozen=True)
class ReasonOutcome:
    code: str  # stable: "wrong_words", "face_mismatch", "still_image"...
    message: str  # what the partner (or the subject) can do about it


@dataclass(frozen=True)
class Assessment:
    """What the worker found. ``reference_encoding``: the captured face, (128,) float32, or
    None when no usable face was found (nothing is then kept)."""

    decision: Decision
    checks: tuple[CheckOutcome, ...]
    reasons: tuple[ReasonOutcome, ...]
    versions: Mapping[str, Any]
    evidence_sha256: str
    reference_encoding: np.ndarray | None = field(default=None, repr=False)


_STATUS = {Decision.PASS: ConsentRequestStatus.GRANTED,
           Decision.REVIEW: ConsentRequestStatus.REVIEW,
           Decision.FAIL: ConsentRequestStatus.REJECTED}
_CONSENT = {Decision.PASS: ConsentStatus.APPROVED, Decision.REVIEW: ConsentStatus.PENDING,
            Decision.FAIL: ConsentStatus.REJECTED}
_ACTION = {Decision.PASS: "approve", Decision.REVIEW: "refer", Decision.FAIL: "reject"}


def decision_taken(source: EvidenceSource | None, assessed: Decision) -> Decision:
    """A partner's finished clip always goes to an officer."""
    if source == EvidenceSource.PARTNER_UPLOAD:
        return Decision.REVIEW
    return assessed


def apply_assessment(session: Session, box: TemplateBox | None, *, request_id: uuid.UUID,
                     assessment: Assessment, now: datetime,
                     context: AuditContext = VERIFIER) -> ConsentRequest | None:
    """Decide the request; None if it was no longer ``verifying`` (decided elsewhere).
    ``box`` seals the captured face (needed when the assessment carries one)."""
    request = session.get(ConsentRequest, request_id, populate_existing=True)
    if request is None:
        return None
    decision = decision_taken(request.evidence_source, assessment.decision)
    claimed = session.execute(
        update(ConsentRequest)
        .where(ConsentRequest.id == request_id,
               ConsentRequest.status == ConsentRequestStatus.VERIFYING)
        .values(status=_STATUS[decision], decision=decision.value,
                assessed_decision=assessment.decision.value,
                reasons=[{"code": r.code, "message": r.message} for r in assessment.reasons],
                versions=dict(assessment.versions),
                evidence_sha256=assessment.evidence_sha256, decided_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        return None
    session.refresh(request)
    _store_checks(session, request.id, assessment.checks, now)
    consent = _consent(session, request, decision, assessment, now)
    if decision != Decision.FAIL and assessment.reference_encoding is not None:
        if box is None:
            raise ValueError("a captured face needs the template key to be kept")
        store_template(session, box, subject_id=request.subject_id, consent_id=consent.id,
                       request_id=request.id, encoding=assessment.reference_encoding, now=now)
    _audit(session, context, request, consent, decision, assessment, now)
    enqueue_organisation_event(session, organisation_id=request.organisation_id,
                               is_test=request.is_test, event_type=CONSENT_REQUEST_DECIDED,
                               now=now, request_id=str(request.id),
                               decision=decision.value)
    return request


def _store_checks(session: Session, request_id: uuid.UUID,
                  checks: tuple[CheckOutcome, ...], now: datetime) -> None:
    for check in checks:
        session.add(ConsentCheckResult(
            request_id=request_id, name=check.name, score=check.score,
            threshold=check.threshold, passed=check.passed, verdict=check.verdict,
            reason_code=check.reason_code, reason=check.reason, created_at=now))
    session.flush()


def _consent(session: Session, request: ConsentRequest, decision: Decision,
             assessment: Assessment, now: datetime) -> Consent:
    verified = decision == Decision.PASS
    reason = None if decision != Decision.FAIL else \
        "; ".join(r.message for r in assessment.reasons)[:MAX_REASON_CHARS] \
        or "the consent evidence failed its checks"
    consent = Consent(
        subject_id=request.subject_id, organisation_id=request.organisation_id,
        status=_CONSENT[decision], purposes=list(request.purposes),
        expires_at=request.consent_expires_at, max_jobs=request.max_jobs,
        evidence_asset_id=request.evidence_asset_id, requested_at=request.created_at,
        reviewed_at=now if decision != Decision.REVIEW else None, reason=reason,
        basis=ConsentBasis.VERIFIED_CAPTURE if verified else ConsentBasis.OFFICER_REVIEW)
    session.add(consent)
    session.flush()
    request.consent_id = consent.id
    session.flush()
    return consent


def _audit(session: Session, context: AuditContext, request: ConsentRequest, consent: Consent,
           decision: Decision, assessment: Assessment, now: datetime) -> None:
    record(session, context, "consent:consent:verify", f"consent_request:{request.id}",
           now=now, outcome=Outcome.SUCCESS if decision == Decision.PASS else Outcome.DENIED,
           payload={"decision": decision.value, "assessed": assessment.decision.value,
                    "checks": {c.name: {"score": c.score, "passed": c.passed}
                               for c in assessment.checks},
                    "reasons": [r.code for r in assessment.reasons],
                    "versions": dict(assessment.versions),
                    "evidence_sha256": assessment.evidence_sha256,
                    "source": request.evidence_source.value if request.evidence_source
                    else None, "consent_id": str(consent.id)})
    record(session, context, f"consent:consent:{_ACTION[decision]}", f"consent:{consent.id}",
           now=now, payload={"request_id": str(request.id), "subject_id": str(request.subject_id),
                             "organisation_id": str(request.organisation_id),
                             "purposes": list(request.purposes),
                             "expires_at": request.consent_expires_at.isoformat(),
                             "max_jobs": request.max_jobs, "basis": consent.basis.value})
