"""Erasing a subject (GDPR Art. 17): biometric data, media and names go; pseudonyms stay.

``erase_subject`` (a compliance officer: ``POST /v1/subjects/{id}/erase`` or ``likeness
subject erase SUBJECT_ID --reason ...``), in one transaction:

1. every approved consent is revoked with all its effects (``service.domain.revocation``:
   jobs cancelled, artifacts flagged "consent revoked" in the registry, officers' portrait
   reviews voided); pending consents are rejected; consent requests still in progress are
   closed;
2. face templates are deleted (``service.domain.biometrics``);
3. media: the subject's portraits (those filed for review against it too), speech, consent
   evidence and the released videos are deleted from the blob store (a blob another retained
   row still needs is kept); every row keeps its SHA-256 (``purged_at`` set - artifacts too,
   so a download answers 410), the registry keeps the videos' hashes and flags;
4. names: the display name and the partner's reference are replaced, job transcripts and
   consent-request scripts (which name the subject) are deleted - their hashes stay;
5. the subject's private page is disabled, and the subject's audit key is destroyed
   (``service.audit.personal.erase_person``): personal fields sealed in past events read
   ``[erased]`` while the hash chain and the Merkle tree keep verifying.

What remains is the subject's id - a pseudonymous reference that the audit trail, jobs and the
registry cite and that names no one - and the decisions, scores and hashes that explain them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.models import (
    Artifact,
    Asset,
    Consent,
    ConsentRequest,
    ConsentRequestStatus,
    ConsentStatus,
    Job,
    PortraitReview,
    Role,
    Subject,
    SubjectLink,
)
from service.db.types import utcnow
from service.domain.biometrics import IN_PROGRESS, delete_templates
from service.domain.blob_holders import delete_unless_held
from service.domain.revocation import RevokedBy, revoke
from service.errors import NotFound, RequestInvalid, StateConflict
from service.storage import BlobStore, blob_key

ERASED_NAME = "[erased]"
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Erasure:
    subject_id: uuid.UUID
    revoked_consents: tuple[uuid.UUID, ...]
    rejected_consents: tuple[uuid.UUID, ...]
    cancelled_jobs: tuple[uuid.UUID, ...]
    flagged_assets: tuple[str, ...]
    templates_deleted: int
    media_purged: int  # asset rows whose bytes were deleted
    videos_deleted: int
    audit_key_destroyed: bool


def erase_subject(session: Session, context: AuditContext, store: BlobStore, *,
                  subject_id: uuid.UUID, officer_id: uuid.UUID, reason: str,
                  now: datetime | None = None) -> Erasure:
    from service.audit.personal import erase_person

    now = now or utcnow()
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    reason = _check_reason(reason)
    subject = session.get(Subject, subject_id, with_for_update=True, populate_existing=True)
    if subject is None:
        raise NotFound(f"no subject {subject_id}", resource="subject", id=str(subject_id))
    if subject.erased_at is not None:
        raise StateConflict(f"subject {subject_id} was erased on "
                            f"{subject.erased_at.date().isoformat()}",
                            erased_at=subject.erased_at.isoformat())
    revoked, rejected, cancelled, flagged = _close_consents(session, context, subject_id,
                                                            officer_id, reason, now)
    templates = delete_templates(session, context, subject_id, reason="erasure", now=now)
    media = _purge_media(session, context, store, subject_id, now)
    videos = _delete_videos(session, store, subject_id, now)
    _scrub_names(session, subject, now)
    key_destroyed = erase_person(session, context, f"subject:{subject_id}",
                                 reason=f"erasure: {reason}", now=now)
    record(session, context, "compliance:subject:erase", f"subject:{subject_id}", now=now,
           payload={"officer_id": str(officer_id), "reason": reason,
                    "revoked_consents": [str(c) for c in revoked],
                    "rejected_consents": [str(c) for c in rejected],
                    "cancelled_jobs": len(cancelled), "flagged_artifacts": len(flagged),
                    "templates_deleted": templates, "media_purged": media,
                    "videos_deleted": videos, "audit_key_destroyed": key_destroyed})
    return Erasure(subject_id, revoked, rejected, cancelled, flagged, templates, media, videos,
                   key_destroyed)


def _close_consents(session: Session, context: AuditContext, subject_id: uuid.UUID,
                    officer_id: uuid.UUID, reason: str, now: datetime):
    revoked, rejected, cancelled, flagged = [], [], [], []
    consents = session.scalars(select(Consent).where(Consent.subject_id == subject_id)
                               .order_by(Consent.id)).all()
    for consent in consents:
        if consent.status == ConsentStatus.APPROVED:
            done = revoke(session, context, consent_id=consent.id, by=RevokedBy.OFFICER,
                          reason=f"subject erased: {reason}", officer_id=officer_id, now=now)
            revoked.append(consent.id)
            cancelled += done.cancelled_jobs
            flagged += done.flagged_assets
        elif consent.status == ConsentStatus.PENDING:
            consent.status, consent.reviewer_id, consent.reviewed_at = \
                ConsentStatus.REJECTED, officer_id, now
            consent.reason = f"subject erased: {reason}"
            rejected.append(consent.id)
            session.flush()
            record(session, context, "compliance:consent:reject", f"consent:{consent.id}",
                   now=now, payload={"officer_id": str(officer_id), "reason": consent.reason,
                                     "subject_id": str(subject_id)})
    session.execute(update(ConsentRequest).where(ConsentRequest.subject_id == subject_id,
                                                 ConsentRequest.status.in_(IN_PROGRESS))
                    .values(status=ConsentRequestStatus.REJECTED, decided_at=now,
                            reasons=["subject erased"]))
    return tuple(revoked), tuple(rejected), tuple(cancelled), tuple(flagged)


def _subject_media(session: Session, subject_id: uuid.UUID) -> list[Asset]:
    jobs = select(Job.portrait_asset_id, Job.audio_asset_id).where(Job.subject_id == subject_id)
    job_inputs = [a for row in session.execute(jobs).all() for a in row]
    evidence = [*session.scalars(select(Consent.evidence_asset_id).where(
        Consent.subject_id == subject_id, Consent.evidence_asset_id.is_not(None))),
        *session.scalars(select(ConsentRequest.evidence_asset_id).where(
            ConsentRequest.subject_id == subject_id,
            ConsentRequest.evidence_asset_id.is_not(None))),
        # Portraits filed for an officer's review against the subject (no job may hold them).
        *session.scalars(select(PortraitReview.portrait_asset_id).where(
            PortraitReview.subject_id == subject_id))]
    return list(session.scalars(select(Asset).where(
        or_(Asset.subject_id == subject_id, Asset.id.in_(job_inputs + evidence)),
        Asset.purged_at.is_(None)).with_for_update()))


def _purge_media(session: Session, context: AuditContext, store: BlobStore,
                 subject_id: uuid.UUID, now: datetime) -> int:
    assets = _subject_media(session, subject_id)
    for asset in assets:
        asset.purged_at, asset.face_encoding = now, None
    session.flush()
    # Bytes another retained row holds (an upload of the same photo, a video under report)
    # stay: ``service.domain.blob_holders``.
    for key, sha256 in sorted({(asset.storage_key, asset.sha256) for asset in assets}):
        delete_unless_held(session, store, key, sha256)
    for asset in assets:
        record(session, context, "retention:asset:purge", f"asset:{asset.id}", now=now,
               payload={"kind": asset.kind.value, "sha256": asset.sha256,
                        "reason": "erasure", "subject_id": str(subject_id)})
    return len(assets)


def _delete_videos(session: Session, store: BlobStore, subject_id: uuid.UUID,
                   now: datetime) -> int:
    """The released videos' bytes; their registry rows (hash, flags) stay, marked purged. A
    video a misuse report holds as evidence is kept for the officer handling it."""
    session.execute(update(Artifact).where(Artifact.subject_id == subject_id,
                                           Artifact.purged_at.is_(None))
                    .values(purged_at=now))
    hashes = session.scalars(select(Artifact.sha256).where(Artifact.subject_id == subject_id)
                             ).all()
    deleted = 0
    for sha256 in sorted(set(hashes)):
        key = blob_key(sha256)
        if store.exists(key) and delete_unless_held(session, store, key, sha256):
            deleted += 1
    return deleted


def _scrub_names(session: Session, subject: Subject, now: datetime) -> None:
    subject.display_name, subject.external_ref, subject.erased_at = ERASED_NAME, None, now
    session.execute(update(Job).where(Job.subject_id == subject.id).values(transcript=None))
    session.execute(update(ConsentRequest).where(ConsentRequest.subject_id == subject.id)
                    .values(script=ERASED_NAME))
    session.execute(update(SubjectLink).where(SubjectLink.subject_id == subject.id,
                                              SubjectLink.disabled_at.is_(None))
                    .values(disabled_at=now))
    session.flush()


def _check_reason(reason: str) -> str:
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise RequestInvalid(f"give a reason of 1-{MAX_REASON_CHARS} characters", field="reason")
    return reason
