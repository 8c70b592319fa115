"""Consent requests: a partner asks, the subject answers on camera, the evidence is stored.

    create_request (partner)       -> the script with a fresh random phrase (valid
                                      ``consent_challenge_seconds``, used once), the prompt
                                      schedule kept server-side, a capture link (only its
                                      SHA-256 is stored)
    start_capture (capture page)   -> reveals the prompt schedule, once recording starts; the
                                      upload must follow within the schedule plus a grace
    accept_recording (capture page, or the partner's own finished clip)
                                   -> the clip stored as the request's evidence, the
                                      challenge used up, the request ``verifying``: its
                                      verification is queued by the same commit
                                      (``service.jobs.evidence``)

A capture link is a bearer secret for one request: whoever holds it can record the evidence,
nothing else. An expired challenge is ``ChallengeExpired`` (410), a used one
``ChallengeUsed`` (409); each refused attempt is an audit event (``commit_on``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.audit import Outcome
from service.db.audit import AuditContext, record
from service.db.models import (
    ConsentCheckResult,
    ConsentRequest,
    ConsentRequestStatus,
    EvidenceSource,
    Organisation,
    Subject,
)
from service.db.types import utcnow
from service.domain.assets import Owner, new_asset_row, owned_subject
from service.domain.challenges import check_timeline, issue_challenge
from service.domain.recordings import ValidatedRecording
from service.domain.subjects import check_expiry, check_purposes
from service.errors import (
    CaptureLinkInvalid,
    CaptureNotStarted,
    ChallengeExpired,
    ChallengeUsed,
    NotFound,
    RequestInvalid,
)
from service.storage import BlobStore

MAX_JOBS_LIMIT = 1_000_000
# After the schedule ends, how long the page has to upload what it recorded.
UPLOAD_GRACE_SECONDS = 600.0
TOKEN_BYTES = 32
REFUSALS = (ChallengeExpired, ChallengeUsed, CaptureNotStarted)


@dataclass(frozen=True)
class ConsentAsk:
    """The scope a partner asks for. ``expires_at`` is aware and in the future."""

    purposes: frozenset[str]
    expires_at: datetime
    max_jobs: int | None


@dataclass(frozen=True)
class IssuedRequest:
    request: ConsentRequest
    token: str  # the capture link's secret: shown once, only its hash is stored


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def capture_path(token: str) -> str:
    return f"/capture/{token}"


def create_request(session: Session, context: AuditContext, *, owner: Owner,
                   subject_id: uuid.UUID, ask: ConsentAsk, vocabulary: Iterable[str],
                   challenge_seconds: float, api_key_id: uuid.UUID | None = None,
                   now: datetime | None = None) -> IssuedRequest:
    now = now or utcnow()
    subject = owned_subject(session, owner, subject_id)
    purposes = sorted(check_purposes(ask.purposes, vocabulary))
    check_expiry(ask.expires_at, now)
    if ask.max_jobs is not None and not 0 < ask.max_jobs <= MAX_JOBS_LIMIT:
        raise RequestInvalid(f"max_jobs must be 1-{MAX_JOBS_LIMIT}", field="max_jobs",
                             max_jobs=ask.max_jobs)
    partner = session.get(Organisation, owner.organisation_id)
    challenge = issue_challenge(subject_name=subject.display_name,
                                partner_name=partner.name if partner else "the partner",
                                purposes=purposes, consent_expires_at=ask.expires_at, now=now,
                                valid_seconds=challenge_seconds)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    request = ConsentRequest(
        subject_id=subject.id, organisation_id=owner.organisation_id, api_key_id=api_key_id,
        is_test=owner.is_test, status=ConsentRequestStatus.OPEN, purposes=purposes,
        consent_expires_at=ask.expires_at, max_jobs=ask.max_jobs,
        script=challenge.script,
        challenge=challenge.document, challenge_expires_at=challenge.expires_at,
        prompt_schedule=challenge.schedule, token_hash=token_hash(token),
        verify_attempts=0, created_at=now)
    session.add(request)
    session.flush()
    record(session, context, "partner:consent:request", f"consent_request:{request.id}",
           now=now, payload={"subject_id": str(subject.id), "purposes": purposes,
                             "expires_at": ask.expires_at.isoformat(),
                             "max_jobs": ask.max_jobs, "is_test": owner.is_test,
                             "challenge_expires_at": challenge.expires_at.isoformat(),
                             "challenge_version": challenge.document.get("version")})
    return IssuedRequest(request, token)


def get_request(session: Session, owner: Owner, request_id: uuid.UUID) -> ConsentRequest:
    """The owner's request; another partner's (or environment's) is ``NotFound`` alike."""
    request = session.get(ConsentRequest, request_id)
    if request is None or request.organisation_id != owner.organisation_id \
            or request.is_test != owner.is_test:
        raise NotFound(f"no consent request {request_id}", resource="consent_request",
                       id=str(request_id))
    return request


def checks_of(session: Session, request_id: uuid.UUID) -> list[ConsentCheckResult]:
    return list(session.scalars(select(ConsentCheckResult)
                                .where(ConsentCheckResult.request_id == request_id)
                                .order_by(ConsentCheckResult.name)))


def verifications_of(session: Session, consent_ids: Sequence[uuid.UUID]
                     ) -> dict[uuid.UUID, tuple[ConsentRequest, list[ConsentCheckResult]]]:
    """The request (and its checks) each consent was decided from, by consent id."""
    if not consent_ids:
        return {}
    requests = session.scalars(select(ConsentRequest)
                               .where(ConsentRequest.consent_id.in_(list(consent_ids))))
    return {r.consent_id: (r, checks_of(session, r.id)) for r in requests if r.consent_id}


def request_for_token(session: Session, token: str, *, lock: bool = False) -> ConsentRequest:
    query = select(ConsentRequest).where(ConsentRequest.token_hash == token_hash(token))
    request = session.scalar(query.with_for_update() if lock else query)
    if request is None:
        raise CaptureLinkInvalid("this capture link is not valid (mistyped, or never issued)",
                                 resource="consent_request")
    return request


def subject_name(session: Session, request: ConsentRequest) -> str:
    subject = session.get(Subject, request.subject_id)
    return subject.display_name if subject else ""


def check_open(request: ConsentRequest, now: datetime) -> None:
    """The challenge may still take its recording: unused and unexpired."""
    if request.challenge_used_at is not None or request.status != ConsentRequestStatus.OPEN:
        raise ChallengeUsed("this consent request already received its recording; a challenge "
                            "is used once (ask the partner for a new request)",
                            request_id=str(request.id), status=request.status.value)
    if now >= request.challenge_expires_at:
        raise ChallengeExpired(f"the code words expired at "
                               f"{request.challenge_expires_at.isoformat()}; ask the partner "
                               "for a new consent request", request_id=str(request.id),
                               expired_at=request.challenge_expires_at.isoformat())
    deadline = upload_deadline(request)
    if deadline is not None and now > deadline:
        raise ChallengeExpired("the recording was not uploaded in time after it started; ask "
                               "the partner for a new consent request",
                               request_id=str(request.id), reason="capture_window_closed",
                               expired_at=deadline.isoformat())


def upload_deadline(request: ConsentRequest) -> datetime | None:
    if request.capture_started_at is None:
        return None
    seconds = float(request.prompt_schedule.get("duration_seconds", 0)) + UPLOAD_GRACE_SECONDS
    return request.capture_started_at + timedelta(seconds=seconds)


def start_capture(session: Session, context: AuditContext, token: str,
                  now: datetime | None = None) -> ConsentRequest:
    """Recording starts: the schedule is revealed now (the same one again after a reload, with
    the time already spent gone)."""
    now = now or utcnow()
    request = request_for_token(session, token, lock=True)
    refuse_unless_open(session, context, request, now, "subject:consent:capture_start")
    if request.capture_started_at is None:
        request.capture_started_at = now
        session.flush()
        record(session, context, "subject:consent:capture_start",
               f"consent_request:{request.id}", now=now,
               payload={"challenge_expires_at": request.challenge_expires_at.isoformat()})
    return request


def accept_recording(session: Session, context: AuditContext, store: BlobStore, *,
                     request: ConsentRequest, recording: ValidatedRecording,
                     source: EvidenceSource, timeline: dict[str, Any] | None,
                     now: datetime | None = None) -> ConsentRequest:
    """Store the clip as the request's evidence and queue its verification (the caller
    commits, then sends: ``service.jobs.evidence.VerificationRelay.send_now``)."""
    now = now or utcnow()
    action = ("subject:consent:capture" if source == EvidenceSource.CAPTURE
              else "partner:consent:evidence")
    refuse_unless_open(session, context, request, now, action)
    if source == EvidenceSource.CAPTURE:
        if request.capture_started_at is None:
            _refuse(session, context, request, now, action, CaptureNotStarted(
                "the capture page never started recording for this request",
                request_id=str(request.id)))
        timeline = check_timeline(request.prompt_schedule, timeline)
    owner = Owner(request.organisation_id, request.is_test)
    asset = new_asset_row(store, owner, recording.as_upload(), subject_id=request.subject_id,
                          now=now)
    session.add(asset)
    session.flush()
    request.evidence_source = source
    request.evidence_asset_id = asset.id
    request.prompt_timeline = timeline
    request.challenge_used_at = now
    request.submitted_at = now
    request.status = ConsentRequestStatus.VERIFYING
    request.verify_sent_at = None
    session.flush()
    record(session, context, action, f"consent_request:{request.id}",
           now=now, payload={"evidence_asset_id": str(asset.id), "sha256": asset.sha256,
                             "media_type": asset.media_type, "size_bytes": asset.size_bytes,
                             "duration_seconds": round(recording.duration_seconds, 3),
                             "source": source.value})
    return request


def refuse_unless_open(session: Session, context: AuditContext, request: ConsentRequest,
                       now: datetime, action: str) -> None:
    try:
        check_open(request, now)
    except REFUSALS as exc:
        _refuse(session, context, request, now, action, exc)


def _refuse(session: Session, context: AuditContext, request: ConsentRequest, now: datetime,
            action: str, error: ChallengeExpired | ChallengeUsed | CaptureNotStarted) -> None:
    """Record the refused attempt (the caller commits on ``REFUSALS``), then raise it."""
    record(session, context, action, f"consent_request:{request.id}", outcome=Outcome.DENIED,
           now=now, payload={"reason": error.code})
    raise error
