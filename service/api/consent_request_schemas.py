"""JSON of consent requests, the capture page's calls and the non-living grant.

Partners see a request's status, the script, each check's pass/fail and its reason, never the
scores (a score is an oracle for tuning a forged clip); officers see everything, scores and
versions included (``ConsentVerificationPublic``, inside ``ConsentPublic``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from service.db.models import (
    ConsentCheckResult,
    ConsentRequest,
    ConsentRequestStatus,
    ConsentStatus,
    EvidenceSource,
    NonlivingCategory,
)
from service.domain.nonliving import MIN_JUSTIFICATION_CHARS


class ConsentRequestCreate(BaseModel):
    purposes: list[str] = Field(min_length=1)
    expires_at: datetime  # the consent's requested expiry
    max_jobs: int | None = Field(default=None, ge=1)


class ReasonPublic(BaseModel):
    code: str  # stable: wrong_words, face_mismatch, still_image...
    message: str  # what to do about it


class CheckSummary(BaseModel):
    name: str
    passed: bool
    reason_code: str | None
    reason: str | None

    @classmethod
    def of(cls, row: ConsentCheckResult) -> CheckSummary:
        return cls(name=row.name, passed=row.passed, reason_code=row.reason_code,
                   reason=row.reason)


class CheckPublic(CheckSummary):
    score: float | None
    threshold: float | None
    verdict: str

    @classmethod
    def of(cls, row: ConsentCheckResult) -> CheckPublic:
        return cls(name=row.name, passed=row.passed, reason_code=row.reason_code,
                   reason=row.reason, score=row.score, threshold=row.threshold,
                   verdict=row.verdict)


def _reasons(request: ConsentRequest) -> list[ReasonPublic]:
    return [ReasonPublic(code=str(r.get("code", "")), message=str(r.get("message", "")))
            for r in request.reasons or []]


class ConsentRequestPublic(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    status: ConsentRequestStatus
    purposes: list[str]
    expires_at: datetime
    max_jobs: int | None
    script: str  # what the subject reads on camera, code words included
    challenge_expires_at: datetime
    # Only in the answer that created the request: the link to send the subject to.
    capture_url: str | None = None
    evidence_source: EvidenceSource | None
    submitted_at: datetime | None
    decision: str | None  # pass, review, fail
    reasons: list[ReasonPublic]
    checks: list[CheckSummary]
    consent_id: uuid.UUID | None
    consent_status: ConsentStatus | None
    is_test: bool
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, request: ConsentRequest, checks: list[ConsentCheckResult], *,
           consent_status: ConsentStatus | None = None,
           capture_url: str | None = None) -> ConsentRequestPublic:
        return cls(
            id=request.id, subject_id=request.subject_id, status=request.status,
            purposes=list(request.purposes), expires_at=request.consent_expires_at,
            max_jobs=request.max_jobs, script=request.script,
            challenge_expires_at=request.challenge_expires_at, capture_url=capture_url,
            evidence_source=request.evidence_source, submitted_at=request.submitted_at,
            decision=request.decision, reasons=_reasons(request),
            checks=[CheckSummary.of(c) for c in checks],
            consent_id=request.consent_id, consent_status=consent_status,
            is_test=request.is_test, created_at=request.created_at,
            decided_at=request.decided_at)


class ConsentVerificationPublic(BaseModel):
    """For officers: how the evidence behind a consent was checked."""

    request_id: uuid.UUID
    source: EvidenceSource | None
    assessed_decision: str | None  # what the checks said
    decision: str | None  # what was done (a partner's clip always goes to review)
    reasons: list[ReasonPublic]
    checks: list[CheckPublic]
    versions: dict[str, Any]
    evidence_sha256: str | None
    evidence_asset_id: uuid.UUID | None
    prompt_timeline: dict[str, Any] | None
    submitted_at: datetime | None
    decided_at: datetime | None

    @classmethod
    def of(cls, request: ConsentRequest,
           checks: list[ConsentCheckResult]) -> ConsentVerificationPublic:
        return cls(request_id=request.id, source=request.evidence_source,
                   assessed_decision=request.assessed_decision, decision=request.decision,
                   reasons=_reasons(request),
                   checks=[CheckPublic.of(c) for c in checks],
                   versions=dict(request.versions or {}),
                   evidence_sha256=request.evidence_sha256,
                   evidence_asset_id=request.evidence_asset_id,
                   prompt_timeline=request.prompt_timeline,
                   submitted_at=request.submitted_at, decided_at=request.decided_at)


class NonlivingGrant(BaseModel):
    subject_id: uuid.UUID
    category: NonlivingCategory
    justification: str = Field(min_length=MIN_JUSTIFICATION_CHARS, max_length=4000)
    purposes: list[str] = Field(min_length=1)
    expires_at: datetime
    max_jobs: int | None = Field(default=None, ge=1)


class CapturePrompt(BaseModel):
    id: str
    text: str
    at_seconds: float  # after recording starts
    show_seconds: float  # on screen this long (the window the checks look in)


class CaptureStart(BaseModel):
    """What the page needs once recording starts: the prompts and when to show them."""

    prompts: list[CapturePrompt]
    duration_seconds: float  # record this long, then upload
    upload_by: datetime


class CaptureStatus(BaseModel):
    request_id: uuid.UUID
    status: ConsentRequestStatus
    decision: str | None
    # The subject's private page, returned once: by the first poll after an automatic grant.
    subject_link: str | None = None
