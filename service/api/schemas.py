"""What the API returns and accepts as JSON: ``XPublic`` views built from the rows (never the
rows themselves) and ``XRequest`` bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from service.api.consent_request_schemas import ConsentVerificationPublic
from service.db.models import (
    Asset,
    AssetKind,
    Consent,
    ConsentBasis,
    ConsentStatus,
    NonlivingCategory,
    Subject,
)
from service.domain.references import ReencodeOutcome, ReencodeResult


class AssetPublic(BaseModel):
    id: uuid.UUID
    kind: AssetKind
    media_type: str
    size_bytes: int
    sha256: str
    subject_id: uuid.UUID | None
    is_reference: bool
    has_face_encoding: bool
    duration_seconds: float | None
    is_test: bool
    created_at: datetime

    @classmethod
    def of(cls, asset: Asset) -> AssetPublic:
        return cls(id=asset.id, kind=asset.kind, media_type=asset.media_type,
                   size_bytes=asset.size_bytes, sha256=asset.sha256, subject_id=asset.subject_id,
                   is_reference=asset.is_reference,
                   has_face_encoding=asset.face_encoding is not None,
                   duration_seconds=asset.duration_seconds, is_test=asset.is_test,
                   created_at=asset.created_at)


class ConsentPublic(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    organisation_id: uuid.UUID
    status: ConsentStatus
    # Requested purposes while pending; the approved scope once approved.
    purposes: list[str]
    expires_at: datetime | None
    evidence_asset_id: uuid.UUID | None
    requested_at: datetime
    reviewed_at: datetime | None
    reason: str | None
    revoked_at: datetime | None
    max_jobs: int | None = None
    # officer_review, verified_capture (the live capture passed its checks), nonliving.
    basis: ConsentBasis = ConsentBasis.OFFICER_REVIEW
    nonliving_category: NonlivingCategory | None = None
    justification: str | None = None
    # How the evidence was checked (a consent request's scores and reasons), for officers.
    verification: ConsentVerificationPublic | None = None
    # The subject's private page (``/s/<token>``): in the answer to an approval only, shown
    # this once (only its hash is stored). Hand it to the subject.
    subject_link: str | None = None

    @classmethod
    def of(cls, consent: Consent,
           verification: ConsentVerificationPublic | None = None) -> ConsentPublic:
        return cls(id=consent.id, subject_id=consent.subject_id,
                   organisation_id=consent.organisation_id, status=consent.status,
                   purposes=list(consent.purposes), expires_at=consent.expires_at,
                   evidence_asset_id=consent.evidence_asset_id,
                   requested_at=consent.requested_at, reviewed_at=consent.reviewed_at,
                   reason=consent.reason, revoked_at=consent.revoked_at,
                   max_jobs=consent.max_jobs, basis=consent.basis,
                   nonliving_category=consent.nonliving_category,
                   justification=consent.justification, verification=verification)


class SubjectPublic(BaseModel):
    id: uuid.UUID
    display_name: str
    external_ref: str | None
    is_test: bool
    created_at: datetime
    reference_asset_ids: list[uuid.UUID]
    consents: list[ConsentPublic]  # newest first

    @classmethod
    def of(cls, subject: Subject, consents: list[Consent],
           references: list[Asset]) -> SubjectPublic:
        return cls(id=subject.id, display_name=subject.display_name,
                   external_ref=subject.external_ref, is_test=subject.is_test,
                   created_at=subject.created_at,
                   reference_asset_ids=[a.id for a in references],
                   consents=[ConsentPublic.of(c) for c in consents])


class ReferenceReencodePublic(BaseModel):
    """``re_encoded``: the encoding was derived again from the stored photo and sealed under
    the current key; ``unchanged``: it opened, nothing was written."""

    subject_id: uuid.UUID
    result: ReencodeOutcome
    asset: AssetPublic

    @classmethod
    def of(cls, subject_id: uuid.UUID, result: ReencodeResult) -> ReferenceReencodePublic:
        return cls(subject_id=subject_id, result=result.outcome,
                   asset=AssetPublic.of(result.asset))


class ConsentList(BaseModel):
    items: list[ConsentPublic]
    next_after: uuid.UUID | None  # pass as ``after`` for the next page


class ApproveRequest(BaseModel):
    purposes: list[str] = Field(min_length=1)
    expires_at: datetime


class ReasonRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class CheckResult(BaseModel):
    ok: bool
    detail: str | None = None


class ReadyReport(BaseModel):
    ready: bool
    database: CheckResult
    redis: CheckResult
    face_models: CheckResult
