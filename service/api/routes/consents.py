"""The compliance officer's review queue: list consents, read the evidence, approve (with the
granted scope), reject or revoke with a reason. Partners are refused (403). A consent decided
from a consent request carries its verification: every check's score, the reasons, versions
and the evidence hash."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from service.api.consent_request_schemas import ConsentVerificationPublic
from service.api.deps import OfficerDep, ServicesDep, SessionDep, audit_context
from service.api.downloads import blob_download
from service.api.routes.subject_page import public_base
from service.api.schemas import ApproveRequest, ConsentList, ConsentPublic, ReasonRequest
from service.audit.events import record_download
from service.db.models import Asset, Consent, ConsentStatus
from service.domain.consent_requests import verifications_of
from service.domain.consents import (
    approve_consent,
    get_consent,
    list_consents,
    reject_consent,
    revoke_consent,
)
from service.domain.subject_links import issue_subject_link
from service.errors import NotFound

router = APIRouter(prefix="/v1/consents", tags=["consents"])


@router.get("", response_model=ConsentList)
def list_for_review(session: SessionDep, officer: OfficerDep,
                    status: Annotated[ConsentStatus | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    after: Annotated[uuid.UUID | None, Query()] = None) -> ConsentList:
    items = list_consents(session, status=status, limit=limit, after=after)
    return ConsentList(items=_views(session, items),
                       next_after=items[-1].id if len(items) == limit else None)


@router.get("/{consent_id}", response_model=ConsentPublic)
def read_consent(consent_id: uuid.UUID, session: SessionDep,
                 officer: OfficerDep) -> ConsentPublic:
    return _views(session, [get_consent(session, consent_id)])[0]


def _views(session: SessionDep, consents: Sequence[Consent]) -> list[ConsentPublic]:
    checked = verifications_of(session, [c.id for c in consents])
    return [ConsentPublic.of(c, ConsentVerificationPublic.of(*checked[c.id])
                             if c.id in checked else None) for c in consents]


@router.get("/{consent_id}/evidence")
def read_evidence(consent_id: uuid.UUID, request: Request, session: SessionDep,
                  services: ServicesDep, officer: OfficerDep) -> StreamingResponse:
    """The evidence file as uploaded (its sniffed media type), for the officer to review."""
    consent = get_consent(session, consent_id)
    asset = None if consent.evidence_asset_id is None \
        else session.get(Asset, consent.evidence_asset_id)
    if asset is None:
        raise NotFound(f"consent {consent_id} has no evidence", resource="evidence",
                       id=str(consent_id))
    if asset.purged_at is not None:  # data minimisation: deleted after the decision
        raise NotFound(f"the evidence of consent {consent_id} was deleted on "
                       f"{asset.purged_at.date().isoformat()} (retention); its SHA-256 is "
                       "kept", resource="evidence", id=str(consent_id), sha256=asset.sha256)
    blob = services.store.open(asset.storage_key)
    record_download(session, audit_context(request, officer), "compliance:evidence:download",
                    f"asset:{asset.id}", consent_id=str(consent_id), sha256=asset.sha256)
    return blob_download(blob, asset.media_type)



@router.post("/{consent_id}/approve", response_model=ConsentPublic)
def approve(consent_id: uuid.UUID, body: ApproveRequest, request: Request, session: SessionDep,
            services: ServicesDep, officer: OfficerDep) -> ConsentPublic:
    consent = approve_consent(session, audit_context(request, officer), consent_id=consent_id,
                              officer_id=officer.user_id, purposes=body.purposes,
                              expires_at=body.expires_at,
                              vocabulary=services.settings.consent_purposes)
    view = _views(session, [consent])[0]
    view.subject_link = issue_subject_link(session, consent,
                                           base_url=public_base(services.settings, request),
                                           context=audit_context(request, officer))
    return view


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
