"""``POST /v1/subjects`` (register a person with reference portraits, and optionally consent
evidence with the scope it supports: that consent starts pending; without evidence, consent
comes from ``POST /v1/subjects/{id}/consent-requests``), ``GET /v1/subjects/{id}`` (the
partner's own subjects only) and ``POST /v1/subjects/{id}/references/{asset_id}/re-encode``
(re-derive a reference portrait's sealed encoding from the stored photo, the repair a 409
``subject_reference_unreadable`` names: ``service.domain.references``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status

from service.api.deps import (
    PartnerDep,
    ServicesDep,
    SessionDep,
    audit_context,
    owner_of,
    require_scopes,
)
from service.api.routes.assets import read_upload
from service.api.schemas import ReferenceReencodePublic, SubjectPublic
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.domain.references import reencode_reference
from service.domain.subjects import SubjectRequest, get_subject, register_subject
from service.domain.uploads import validate_evidence
from service.errors import RequestInvalid

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])


def split_values(values: list[str]) -> list[str]:
    """Repeated form fields, or one comma-separated field: both are accepted."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_ids(values: list[str], field: str) -> tuple[uuid.UUID, ...]:
    try:
        return tuple(uuid.UUID(value) for value in values)
    except ValueError:
        raise RequestInvalid(f"{field} must be asset ids (UUIDs)", field=field) from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubjectPublic)
def create_subject(
    request: Request, session: SessionDep, services: ServicesDep,
    partner: Annotated[ApiPrincipal, Depends(require_scopes(Scope.SUBJECTS_WRITE,
                                                            Scope.CONSENTS_REQUEST))],
    display_name: Annotated[str, Form(max_length=200)],
    reference_asset_ids: Annotated[list[str], Form()],
    purposes: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    expires_at: Annotated[datetime | None, Form()] = None,
    evidence: Annotated[UploadFile | None, File()] = None,
    external_ref: Annotated[str | None, Form(max_length=200)] = None,
) -> SubjectPublic:
    references = parse_ids(split_values(reference_asset_ids), "reference_asset_ids")
    upload = None if evidence is None else validate_evidence(
        read_upload(evidence, services.limits.evidence_bytes), services.limits)
    subject, _ = register_subject(
        session, audit_context(request, partner), services.store, owner=owner_of(partner),
        request=SubjectRequest(display_name=display_name, external_ref=external_ref,
                               reference_asset_ids=references,
                               purposes=frozenset(split_values(purposes)),
                               expires_at=expires_at),
        evidence=upload, vocabulary=services.settings.consent_purposes,
        face_threshold=services.settings.face_match_threshold, box=services.face_box)
    _, consents, refs = get_subject(session, owner_of(partner), subject.id)
    return SubjectPublic.of(subject, consents, refs)


@router.get("/{subject_id}", response_model=SubjectPublic)
def read_subject(subject_id: uuid.UUID, session: SessionDep,
                 partner: PartnerDep) -> SubjectPublic:
    return SubjectPublic.of(*get_subject(session, owner_of(partner), subject_id))


@router.post("/{subject_id}/references/{asset_id}/re-encode",
             response_model=ReferenceReencodePublic)
def reencode_subject_reference(
    subject_id: uuid.UUID, asset_id: uuid.UUID, request: Request, session: SessionDep,
    services: ServicesDep,
    partner: Annotated[ApiPrincipal, Depends(require_scopes(Scope.SUBJECTS_WRITE))],
) -> ReferenceReencodePublic:
    result = reencode_reference(
        session, audit_context(request, partner), services.store, owner=owner_of(partner),
        subject_id=subject_id, asset_id=asset_id, box=services.face_box,
        limits=services.limits)
    return ReferenceReencodePublic.of(subject_id, result)
