"""The compliance officer's queue of job portraits in the live-capture match's officer band.

A job portrait the consent gate places between "the subject" and "someone else" is refused
``face_match_review`` and filed here for review (``service.domain.portrait_reviews``); the
refusal's ``details.review_id`` names it. Officers only (partners 403), across partners, as
for transcript reviews:

- ``GET /v1/portrait-reviews`` (``status``, default ``pending``; ``after`` + ``limit``): oldest
  first, each with its partner, subject, consent, portrait, distance and band (pending ones
  only while their consent still stands);
- ``GET /v1/portrait-reviews/{id}``: one review;
- ``GET /v1/portrait-reviews/{id}/portrait``: the photo, to compare (a download: an audit
  event);
- ``POST /v1/portrait-reviews/{id}/accept`` ``{"reason": ...}``: the gate lets that portrait
  asset through for that subject while the consent it was filed under covers the job, at
  submission and when the worker starts (409 ``portrait_review_lapsed`` if that consent no
  longer stands or the portrait's encoding is gone);
- ``POST /v1/portrait-reviews/{id}/reject`` ``{"reason": ...}``: the gate refuses it
  ``face_match_rejected``, with the review and the reason (409 ``portrait_review_decided``
  for a review already decided or voided, on both).

The partner reads where its review stands - never the distance - at
``GET /v1/subjects/{subject_id}/portrait-reviews/{id}`` (scope ``jobs:read``; another
partner's is 404).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from service.api.deps import (
    OfficerDep,
    ServicesDep,
    SessionDep,
    audit_context,
    owner_of,
    require_scopes,
)
from service.api.downloads import blob_download
from service.api.schemas import ReasonRequest
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.db.audit import record
from service.db.models import Asset, Organisation, PortraitReview, PortraitReviewStatus, Subject
from service.domain.assets import owned_subject
from service.domain.portrait_reviews import (
    accept_review,
    get_review,
    partner_review,
    reject_review,
    review_queue,
)
from service.errors import NotFound

router = APIRouter(prefix="/v1/portrait-reviews", tags=["portrait reviews"])
partner_router = APIRouter(prefix="/v1/subjects", tags=["portrait reviews"])
Reader = Annotated[ApiPrincipal, Depends(require_scopes(Scope.JOBS_READ))]


class Band(BaseModel):
    """Capture-match distances: at most ``pass_max`` passes alone, from ``refuse_from`` on is
    another person; between is the officer's."""

    pass_max: float
    refuse_from: float


class PortraitReviewPublic(BaseModel):
    """What the partner sees: where the review stands and the officer's reason."""

    id: uuid.UUID
    status: PortraitReviewStatus
    subject_id: uuid.UUID
    consent_id: uuid.UUID
    portrait_asset_id: uuid.UUID
    filed_at: datetime
    decided_at: datetime | None
    reason: str | None
    voided_at: datetime | None

    @classmethod
    def of(cls, review: PortraitReview) -> PortraitReviewPublic:
        return cls(id=review.id, status=review.status, subject_id=review.subject_id,
                   consent_id=review.consent_id, portrait_asset_id=review.portrait_asset_id,
                   filed_at=review.filed_at, decided_at=review.decided_at,
                   reason=review.reason, voided_at=review.voided_at)


class ReviewedPortrait(PortraitReviewPublic):
    """What the officer sees besides: who, the photo's hash, the distance and the band."""

    organisation_id: uuid.UUID
    partner: str | None
    subject_name: str | None
    portrait_sha256: str
    portrait_url: str
    distance: float
    band: Band
    officer_id: uuid.UUID | None

    @classmethod
    def view(cls, session: SessionDep, review: PortraitReview) -> ReviewedPortrait:
        partner = session.get(Organisation, review.organisation_id)
        subject = session.get(Subject, review.subject_id)
        return cls(**PortraitReviewPublic.of(review).model_dump(),
                   organisation_id=review.organisation_id,
                   partner=None if partner is None else partner.name,
                   subject_name=None if subject is None else subject.display_name,
                   portrait_sha256=review.portrait_sha256,
                   portrait_url=f"/v1/portrait-reviews/{review.id}/portrait",
                   distance=review.distance,
                   band=Band(pass_max=review.pass_max, refuse_from=review.refuse_from),
                   officer_id=review.officer_id)


class ReviewedPortraitList(BaseModel):
    items: list[ReviewedPortrait]
    next_after: uuid.UUID | None


@router.get("", response_model=ReviewedPortraitList)
def list_reviews(session: SessionDep, officer: OfficerDep,
                 status: Annotated[PortraitReviewStatus, Query()] = PortraitReviewStatus.PENDING,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 after: Annotated[uuid.UUID | None, Query()] = None) -> ReviewedPortraitList:
    reviews = review_queue(session, status=status, limit=limit, after=after)
    return ReviewedPortraitList(items=[ReviewedPortrait.view(session, r) for r in reviews],
                                next_after=reviews[-1].id if len(reviews) == limit else None)


@router.get("/{review_id}", response_model=ReviewedPortrait)
def read_review(review_id: uuid.UUID, session: SessionDep,
                officer: OfficerDep) -> ReviewedPortrait:
    return ReviewedPortrait.view(session, get_review(session, review_id))


@router.get("/{review_id}/portrait")
def read_portrait(review_id: uuid.UUID, request: Request, session: SessionDep,
                  services: ServicesDep, officer: OfficerDep) -> StreamingResponse:
    review = get_review(session, review_id)
    portrait = session.get(Asset, review.portrait_asset_id)
    if portrait is None or portrait.purged_at is not None:
        raise NotFound(f"the portrait of review {review_id} is no longer stored",
                       resource="portrait", id=str(review_id))
    blob = services.store.open(portrait.storage_key)
    record(session, audit_context(request, officer), "compliance:portrait_review:view",
           f"portrait_review:{review.id}", payload={"portrait_sha256": portrait.sha256})
    return blob_download(blob, portrait.media_type)



@router.post("/{review_id}/accept", response_model=ReviewedPortrait)
def accept(review_id: uuid.UUID, body: ReasonRequest, request: Request, session: SessionDep,
           officer: OfficerDep) -> ReviewedPortrait:
    review = accept_review(session, audit_context(request, officer), review_id=review_id,
                           officer_id=officer.user_id, reason=body.reason)
    return ReviewedPortrait.view(session, review)


@router.post("/{review_id}/reject", response_model=ReviewedPortrait)
def reject(review_id: uuid.UUID, body: ReasonRequest, request: Request, session: SessionDep,
           officer: OfficerDep) -> ReviewedPortrait:
    review = reject_review(session, audit_context(request, officer), review_id=review_id,
                           officer_id=officer.user_id, reason=body.reason)
    return ReviewedPortrait.view(session, review)


@partner_router.get("/{subject_id}/portrait-reviews/{review_id}",
                    response_model=PortraitReviewPublic)
def partner_read(subject_id: uuid.UUID, review_id: uuid.UUID, session: SessionDep,
                 partner: Reader) -> PortraitReviewPublic:
    subject = owned_subject(session, owner_of(partner), subject_id)
    return PortraitReviewPublic.of(
        partner_review(session, partner.organisation_id, subject.id, review_id))
