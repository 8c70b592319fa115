"""The compliance officer's review queue: list consents, read the evidence, approve (with the
granted scope), reject or revoke with a reason. Partners are refused (403)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from service.api.deps import OfficerDep, ServicesDep, SessionDep, audit_context
from service.api.schemas import ApproveRequest, ConsentList, ConsentPublic, ReasonRequest
from service.db.models import Asset, ConsentStatus
from service.domain.consents import (
    approve_consent,
    get_consent,
    list_consents,
    reject_consent,
    revoke_consent,
)
from service.errors import NotFound

router = APIRouter(prefix="/v1/consents", tags=["consents"])


@router.get("", response_model=ConsentList)
def list_for_review(session: SessionDep, officer: OfficerDep,
                    status: Annotated[ConsentStatus | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    after: Annotated[uuid.UUID | None, Query()] = None) -> ConsentList:
    items = list_consents(session, status=status, limit=limit, after=after)
    return ConsentList(items=[ConsentPublic.of(c) for c in items],
                       next_after=items[-1].id if len(items) == limit else None)


@router.get("/{consent_id}", response_model=ConsentPublic)
def read_consent(consent_id: uuid.UUID, session: SessionDep,
                 officer: OfficerDep) -> ConsentPublic:
    return ConsentPublic.of(get_consent(session, consent_id))


@router.get("/{consent_id}/evidence")
def read_evidence(consent_id: uuid.UUID, session: SessionDep, services: ServicesDep,
                  officer: OfficerDep) -> StreamingResponse:
    """The evidence file as uploaded (its sniffed media type), for the officer to review."""
    consent = get_consent(session, consent_id)
    asset = None if consent.evidence_asset_id is None \
        else session.get(Asset, consent.evidence_asset_id)
    if asset is None:
        raise NotFound(f"consent {consent_id} has no evidence", resource="evidence",
                       id=str(consent_id))
    blob = services.store.open(asset.storage_key)
    return StreamingResponse(_chunks(blob), media_type=asset.media_type,
                             headers={"X-Content-Type-Options": "nosniff",
                                      "Content-Disposition": "attachment"})


def _chunks(blob: BinaryIO) -> Iterator[bytes]:
    with blob:
        yield from iter(lambda: blob.read(1 << 16), b"")


@router.post("/{consent_id}/approve", response_model=ConsentPublic)
def approve(consent_id: uuid.UUID, body: ApproveRequest, request: Request, session: SessionDep,
            services: ServicesDep, officer: OfficerDep) -> ConsentPublic:
    consent = approve_consent(session, audit_context(request, officer), consent_id=consent_id,
                              officer_id=officer.user_id, purposes=body.purposes,
                              expires_at=body.expires_at,
                              vocabulary=services.settings.consent_purposes)
    return ConsentPublic.of(consent)


@router.post("/{consent_id}/reject", response_model=ConsentPublic)
def reject(consent_id: uuid.UUID, body: ReasonRequest, request: Request, session: SessionDep,
           officer: OfficerDep) -> ConsentPublic:
    return ConsentPublic.of(reject_consent(session, audit_context(request, officer),
                                           consent_id=consent_id, officer_id=officer.user_id,
                                           reason=body.reason))


@router.post("/{consent_id}/revoke", response_model=ConsentPublic)
def revoke(consent_id: uuid.UUID, body: ReasonRequest, request: Request, session: SessionDep,
           officer: OfficerDep) -> ConsentPublic:
    return ConsentPublic.of(revoke_consent(session, audit_context(request, officer),
                                           consent_id=consent_id, officer_id=officer.user_id,
                                           reason=body.reason))
