"""A partner's job request, accepted or refused in one transaction: what ``POST /v1/jobs`` does
once HTTP is peeled off.

    ownership (subject and inputs are the caller's, in its environment; else NotFound)
      -> inline files stored as assets (a retry reuses the parts it stored the first time)
      -> ``submit_job``: idempotency, the consent gate, then the monthly quota (skipped for a
         retry: it creates nothing), job + outbox + audit

The inputs are either asset ids uploaded beforehand or files sent inline, already validated
(``service.domain.uploads``: the real format, the size and pixel limits, one face and its
identity encoding, decodable speech). An inline portrait is stored for no subject: whether it
shows the subject is the consent gate's question, answered with its refusal code like any
other portrait. The caller commits (also on ``ConsentRefused``: the refusal is on record).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.audit import AuditContext
from service.db.models import Asset
from service.domain.assets import Owner, get_asset, owned_subject, store_asset
from service.domain.face_templates import TemplateBox
from service.domain.uploads import ValidatedUpload
from service.jobs.gate import ConsentGate
from service.jobs.queries import job_for_key
from service.jobs.quota import reserve_quota
from service.jobs.submit import JobSubmission, submit_job
from service.storage import BlobStore

Input = uuid.UUID | ValidatedUpload  # an asset id, or a file sent with the request


@dataclass(frozen=True)
class JobRequest:
    subject_id: uuid.UUID
    purpose: str
    portrait: Input
    audio: Input
    controls: dict[str, Any]
    idempotency_key: str | None
    transcript: str  # what the audio says (``service.domain.transcripts``)
    language: str = "en"


@dataclass(frozen=True)
class AcceptPolicy:
    """The deployment's answers: who decides consent, how many jobs, how alike a face, and
    the key that seals an inline portrait's face encoding."""

    gate: ConsentGate
    quota_per_month: int  # for the caller's environment (live or test)
    face_threshold: float
    face_box: TemplateBox


def accept_job(session: Session, context: AuditContext, store: BlobStore, *, owner: Owner,
               api_key_id: uuid.UUID | None, request: JobRequest, policy: AcceptPolicy,
               now: datetime) -> JobSubmission:
    # The session's identity map holds rows weakly: keeping the subject and both assets
    # referenced here lets ``submit_job`` and the gate read them again without a query.
    subject = owned_subject(session, owner, request.subject_id)
    earlier = job_for_key(session, owner.organisation_id, request.idempotency_key)
    held_assets = _load_assets(session, request)  # noqa: F841 (kept referenced, like the subject)
    portrait = _input(session, context, store, owner, request.portrait,
                      earlier and earlier.portrait_asset_id, policy)
    audio = _input(session, context, store, owner, request.audio,
                   earlier and earlier.audio_asset_id, policy)
    def reserve() -> None:
        reserve_quota(session, organisation_id=owner.organisation_id, is_test=owner.is_test,
                      limit=policy.quota_per_month, now=now)

    return submit_job(session, context, organisation_id=owner.organisation_id,
                      subject_id=subject.id, purpose=request.purpose,
                      portrait_asset_id=portrait.id, audio_asset_id=audio.id,
                      controls=request.controls, idempotency_key=request.idempotency_key,
                      gate=policy.gate, transcript=request.transcript,
                      language=request.language, api_key_id=api_key_id,
                      is_test=owner.is_test, now=now, key_unused=earlier is None,
                      reserve_quota=reserve if earlier is None else None)


def _load_assets(session: Session, request: JobRequest) -> list[Asset]:
    """Both referenced assets in one query (``_input`` then finds them in the identity map;
    ownership is still checked there)."""
    ids = [given for given in (request.portrait, request.audio) if isinstance(given, uuid.UUID)]
    if len(ids) < 2:
        return []
    return list(session.scalars(select(Asset).where(Asset.id.in_(ids))))


def _input(session: Session, context: AuditContext, store: BlobStore, owner: Owner,
           given: Input, earlier_id: uuid.UUID | None, policy: AcceptPolicy) -> Asset:
    if isinstance(given, uuid.UUID):
        return get_asset(session, owner, given)
    if earlier_id is not None:
        # A retry sends the same bytes again: answer from the parts stored the first time
        # rather than storing them twice. Other bytes fall through and conflict in submit_job.
        earlier: Asset | None = session.get(Asset, earlier_id)
        if earlier is not None and earlier.sha256 == hashlib.sha256(given.data).hexdigest():
            return earlier
    return store_asset(session, context, store, owner=owner, upload=given,
                       box=policy.face_box, face_threshold=policy.face_threshold)

