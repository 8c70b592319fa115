"""``POST /v1/subjects/{subject_id}/erase``: a compliance officer erases a subject.

Body ``{"reason": ...}``. Revokes and rejects the subject's consents (with every effect),
deletes face templates, media, released videos' bytes and names, disables the private page and
destroys the subject's audit key (``service.domain.erasure``); the answer says what was done.
Partners are refused (403); a subject already erased is 409.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from service.api.deps import OfficerDep, ServicesDep, SessionDep, audit_context
from service.domain.erasure import MAX_REASON_CHARS, erase_subject

router = APIRouter(prefix="/v1/subjects", tags=["erasure"])


class EraseRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


class ErasurePublic(BaseModel):
    subject_id: uuid.UUID
    revoked_consents: list[uuid.UUID]
    rejected_consents: list[uuid.UUID]
    cancelled_jobs: list[uuid.UUID]
    flagged_assets: list[str]  # registry entries now saying "consent revoked"
    templates_deleted: int
    media_purged: int
    videos_deleted: int
    audit_key_destroyed: bool


@router.post("/{subject_id}/erase", response_model=ErasurePublic)
def erase(subject_id: uuid.UUID, body: EraseRequest, request: Request, session: SessionDep,
          services: ServicesDep, officer: OfficerDep) -> ErasurePublic:
    done = erase_subject(session, audit_context(request, officer), services.store,
                         subject_id=subject_id, officer_id=officer.user_id, reason=body.reason)
    return ErasurePublic(subject_id=done.subject_id,
                         revoked_consents=list(done.revoked_consents),
                         rejected_consents=list(done.rejected_consents),
                         cancelled_jobs=list(done.cancelled_jobs),
                         flagged_assets=list(done.flagged_assets),
                         templates_deleted=done.templates_deleted,
                         media_purged=done.media_purged, videos_deleted=done.videos_deleted,
                         audit_key_destroyed=done.audit_key_destroyed)
