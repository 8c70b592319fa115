"""Consent requests (partners) and the non-living grant (officers).

- ``POST /v1/subjects/{subject_id}/consent-requests`` (scope ``consents:request``): purposes,
  the consent's expiry, optional ``max_jobs`` -> 201 with the script to read (code words
  included), the code words' expiry and the capture link to send the subject to (shown once).
- ``GET /v1/consent-requests/{id}``: status (open, verifying, granted, review, rejected), the
  decision, the reasons and each check's pass/fail; 404 for another partner's request.
- ``POST /v1/consent-requests/{id}/evidence`` (scope ``consents:request``): the partner's own
  finished clip instead of the capture page, within the code words' time; scored like a
  capture but always decided by an officer. 202; the verification runs in a worker.
- ``POST /v1/consents/nonliving`` (compliance officer): consent for a subject that is not a
  living person able to consent, with a written justification.

Refused challenge uses (expired 410, used 409) are committed as audit events before the error.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Request, UploadFile, status

from service.api.consent_request_schemas import (
    ConsentRequestCreate,
    ConsentRequestPublic,
    NonlivingGrant,
)
from service.api.deps import (
    OfficerDep,
    ServicesDep,
    SessionDep,
    audit_context,
    owner_of,
    require_scopes,
)
from service.api.routes.assets import read_upload
from service.api.schemas import ConsentPublic
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.db.engine import session_scope
from service.db.models import Consent, ConsentRequest, EvidenceSource
from service.domain.consent_requests import (
    REFUSALS,
    ConsentAsk,
    accept_recording,
    capture_path,
    checks_of,
    create_request,
    get_request,
)
from service.domain.nonliving import grant_nonliving
from service.domain.recordings import RecordingLimits, validate_recording
from service.jobs.evidence import VerificationRelay
from service.settings import Settings

router = APIRouter(tags=["consent requests"])

Requester = Annotated[ApiPrincipal, Depends(require_scopes(Scope.CONSENTS_REQUEST))]


def verification_relay(request: Request) -> VerificationRelay:
    return request.app.state.verifications


RelayDep = Annotated[VerificationRelay, Depends(verification_relay)]


def capture_url(request: Request, settings: Settings, token: str) -> str:
    base = (settings.public_base_url or str(request.base_url)).rstrip("/")
    return base + capture_path(token)


def public_view(session: SessionDep, consent_request: ConsentRequest,
                capture: str | None = None) -> ConsentRequestPublic:
    consent = session.get(Consent, consent_request.consent_id) \
        if consent_request.consent_id else None
    return ConsentRequestPublic.of(consent_request, checks_of(session, consent_request.id),
                                   consent_status=consent.status if consent else None,
                                   capture_url=capture)


@router.post("/v1/subjects/{subject_id}/consent-requests", status_code=status.HTTP_201_CREATED,
             response_model=ConsentRequestPublic)
def create(subject_id: uuid.UUID, body: ConsentRequestCreate, request: Request,
           session: SessionDep, services: ServicesDep,
           partner: Requester) -> ConsentRequestPublic:
    issued = create_request(
        session, audit_context(request, partner), owner=owner_of(partner),
        subject_id=subject_id,
        ask=ConsentAsk(frozenset(body.purposes), body.expires_at, body.max_jobs),
        vocabulary=services.settings.consent_purposes,
        challenge_seconds=services.settings.consent_challenge_seconds,
        api_key_id=partner.api_key_id)
    return public_view(session, issued.request,
                       capture_url(request, services.settings, issued.token))


@router.get("/v1/consent-requests/{request_id}", response_model=ConsentRequestPublic)
def read(request_id: uuid.UUID, session: SessionDep, partner: Requester) -> ConsentRequestPublic:
    return public_view(session, get_request(session, owner_of(partner), request_id))


@router.post("/v1/consent-requests/{request_id}/evidence",
             status_code=status.HTTP_202_ACCEPTED, response_model=ConsentRequestPublic)
def upload_evidence(request_id: uuid.UUID, request: Request, background: BackgroundTasks,
                    services: ServicesDep, relay: RelayDep, partner: Requester,
                    file: Annotated[UploadFile, File()]) -> ConsentRequestPublic:
    limits = RecordingLimits.from_settings(services.settings)
    recording = validate_recording(read_upload(file, limits.max_bytes), limits)
    with session_scope(services.sessions, commit_on=REFUSALS) as session:
        consent_request = get_request(session, owner_of(partner), request_id)
        accept_recording(session, audit_context(request, partner), services.store,
                         request=consent_request, recording=recording,
                         source=EvidenceSource.PARTNER_UPLOAD, timeline=None)
        view = public_view(session, consent_request)
    background.add_task(relay.send_now, [request_id])
    return view


@router.post("/v1/consents/nonliving", status_code=status.HTTP_201_CREATED,
             response_model=ConsentPublic)
def grant_for_nonliving(body: NonlivingGrant, request: Request, session: SessionDep,
                        services: ServicesDep, officer: OfficerDep) -> ConsentPublic:
    consent = grant_nonliving(
        session, audit_context(request, officer), officer_id=officer.user_id,
        subject_id=body.subject_id, category=body.category, justification=body.justification,
        purposes=body.purposes, expires_at=body.expires_at, max_jobs=body.max_jobs,
        vocabulary=services.settings.consent_purposes)
    return ConsentPublic.of(consent)
