"""The subject's private page: a link issued when a consent is granted, no account needed.

``issue_subject_link`` is called wherever a consent becomes approved (an officer's approval,
the automatic decision on a verified capture): it draws 32 random bytes, stores only their
SHA-256 and returns the URL ``<base>/s/<token>`` - shown once, to be handed to the subject.
Issuing again for the same consent rotates the token (the old link stops working).

``open_subject_page`` resolves a token to the page's content: the consent (partner, purposes,
expiry, status) and every job made under it (date, partner, purpose, the transcript the
subject was made to say, state, the released video's asset id and whether it is flagged).
A malformed, unknown or disabled token is ``SubjectLinkUnknown`` - a plain 404 that says
nothing about whether such a link ever existed. The subject acts under the pseudonymous actor
``subject:<subject id>`` (the id names no one once the subject is erased).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import (
    Artifact,
    Consent,
    ConsentRequest,
    ConsentStatus,
    Job,
    Organisation,
    SubjectLink,
)
from service.db.types import utcnow
from service.errors import StateConflict, SubjectLinkUnknown

TOKEN_BYTES = 32
PAGE_PATH = "/s"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)
ISSUER = AuditContext(actor="system:subject-links")
OPERATOR_RELEASE = "the service's operator"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def subject_actor(subject_id: uuid.UUID, request_id: str | None = None) -> AuditContext:
    """The subject as an audit actor: a pseudonymous id, never a name."""
    return AuditContext(actor=f"subject:{subject_id}", request_id=request_id)


def issue_subject_link(session: Session, consent: Consent, *, base_url: str = "",
                       context: AuditContext = ISSUER, now: datetime | None = None) -> str:
    """The consent's private link (``<base_url>/s/<token>``), issued or rotated; only the
    token's hash is stored. Only an approved consent has a page."""
    now = now or utcnow()
    if consent.status != ConsentStatus.APPROVED:
        raise StateConflict(f"consent {consent.id} is {consent.status.value}; a subject's link "
                            "is issued when the consent is granted", status=consent.status.value)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = session.scalar(select(SubjectLink).where(SubjectLink.consent_id == consent.id))
    rotated = link is not None
    if link is None:
        link = SubjectLink(consent_id=consent.id, subject_id=consent.subject_id,
                           token_sha256=token_sha256(token), issued_at=now)
        session.add(link)
    else:
        link.token_sha256, link.issued_at, link.disabled_at = token_sha256(token), now, None
    session.flush()
    record(session, context, "consent:subject_link:issue", f"subject_link:{link.id}", now=now,
           payload={"consent_id": str(consent.id), "subject_id": str(consent.subject_id),
                    "rotated": rotated})
    return f"{base_url.rstrip('/')}{PAGE_PATH}/{token}"


def deliver_subject_link(session: Session, consent_request: ConsentRequest, *,
                         base_url: str = "", now: datetime | None = None) -> str | None:
    """The subject's link for a verified capture, the first time it is asked for; else None.

    An automatic grant happens in a worker, where nobody can be shown a link; the subject is
    the one polling the capture page, so the link is issued on that poll. The consent row is
    locked so two polls cannot both issue one; a consent with a link already gets None.
    """
    if consent_request.consent_id is None:
        return None
    consent = session.scalar(select(Consent).where(Consent.id == consent_request.consent_id)
                             .with_for_update())
    if consent is None or consent.status != ConsentStatus.APPROVED:
        return None
    if session.scalar(select(SubjectLink.id).where(SubjectLink.consent_id == consent.id)):
        return None
    return issue_subject_link(session, consent, base_url=base_url, now=now)


def resolve_subject_link(session: Session, token: str, *, lock: bool = False) -> SubjectLink:
    """The live link behind ``token``; ``SubjectLinkUnknown`` otherwise (no detail given)."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise SubjectLinkUnknown("no such page")
    query = select(SubjectLink).where(SubjectLink.token_sha256 == token_sha256(token))
    link = session.scalar(query.with_for_update() if lock else query)
    if link is None or link.disabled_at is not None:
        raise SubjectLinkUnknown("no such page")
    return link


@dataclass(frozen=True)
class VideoLine:
    """One video made (or being made) under the consent, as the subject sees it."""

    job_id: uuid.UUID | None  # None: released by the operator's own tool, not a partner job
    created_at: datetime
    partner: str
    purpose: str
    transcript: str | None
    language: str | None
    transcript_sha256: str | None
    state: str  # the job's state: queued, running, succeeded, failed, cancelled...
    asset_id: str | None  # the released video's watermark / C2PA id, once made
    flagged_revoked: bool  # the registry tells verifiers this video's consent was revoked


@dataclass(frozen=True)
class SubjectPage:
    consent_id: uuid.UUID
    subject_id: uuid.UUID
    partner: str
    purposes: tuple[str, ...]
    status: str  # approved | revoked
    granted_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    videos: tuple[VideoLine, ...]  # newest first

    @property
    def revocable(self) -> bool:
        return self.status == ConsentStatus.APPROVED.value


def open_subject_page(session: Session, token: str, *, now: datetime | None = None
                      ) -> SubjectPage:
    link = resolve_subject_link(session, token)
    link.last_used_at = now or utcnow()
    return subject_page(session, link.consent_id)


def subject_page(session: Session, consent_id: uuid.UUID) -> SubjectPage:
    consent = session.get(Consent, consent_id, populate_existing=True)
    if consent is None:
        raise SubjectLinkUnknown("no such page")
    partner = session.get(Organisation, consent.organisation_id)
    name = partner.name if partner is not None else "unknown partner"
    rows = session.execute(
        select(Job, Artifact).outerjoin(Artifact, Artifact.job_id == Job.id)
        .where(Job.consent_id == consent_id).order_by(Job.id.desc())).all()
    videos = [
        VideoLine(job.id, job.created_at, name, job.purpose, job.transcript,
                  job.transcript_language, job.transcript_sha256, job.state.value,
                  None if artifact is None else artifact.asset_id,
                  artifact is not None and artifact.consent_revoked_at is not None)
        for job, artifact in rows]
    videos += [  # the operator's own releases (``likeness generate``) under this consent
        VideoLine(None, artifact.created_at, OPERATOR_RELEASE, "", None, None, None,
                  "succeeded", artifact.asset_id, artifact.consent_revoked_at is not None)
        for artifact in session.scalars(select(Artifact).where(
            Artifact.consent_id == consent_id, Artifact.job_id.is_(None)))]
    videos.sort(key=lambda line: line.created_at, reverse=True)
    return SubjectPage(consent.id, consent.subject_id, name, tuple(consent.purposes),
                       consent.status.value, consent.reviewed_at, consent.expires_at,
                       consent.revoked_at, tuple(videos))

