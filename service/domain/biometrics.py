"""Face templates live only as long as a consent they serve (GDPR Art. 9: store the least).

A subject's templates are the 128-D encodings the consent gate matches job portraits against:
the sealed live-capture templates (``face_templates``) and the sealed encodings of the
subject's portraits (``assets.face_encoding``: the partner's reference portraits, the
portraits of its jobs and those filed for an officer's review against it). They are needed
while the subject has a consent that is pending, or approved and unexpired, or a consent
request still in progress; once none is left - every consent revoked, rejected or expired -
they are deleted: on revocation at once, on expiry by the retention sweep
(``service.jobs.retention``), on erasure with everything else. The photos'
hashes, the match scores and the model and threshold versions stay, so every decision taken
remains explainable; nothing can identify the face again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import (
    Asset,
    Consent,
    ConsentRequest,
    ConsentRequestStatus,
    ConsentStatus,
    FaceTemplate,
    Job,
    PortraitReview,
)

IN_PROGRESS = (ConsentRequestStatus.OPEN, ConsentRequestStatus.VERIFYING,
               ConsentRequestStatus.REVIEW)


def consent_lives(now: datetime):
    """SQL: a consent row that still needs the subject's templates."""
    return or_(Consent.status == ConsentStatus.PENDING,
               and_(Consent.status == ConsentStatus.APPROVED,
                    or_(Consent.expires_at.is_(None), Consent.expires_at > now)))


def templates_needed(session: Session, subject_id: uuid.UUID, now: datetime) -> bool:
    living = select(Consent.id).where(Consent.subject_id == subject_id, consent_lives(now))
    asking = select(ConsentRequest.id).where(ConsentRequest.subject_id == subject_id,
                                             ConsentRequest.status.in_(IN_PROGRESS))
    return bool(session.scalar(select(exists(living)))
                or session.scalar(select(exists(asking))))


def delete_templates(session: Session, context: AuditContext, subject_id: uuid.UUID, *,
                     reason: str, now: datetime) -> int:
    """Delete every face template of the subject; returns how many were deleted (0: none
    left, and no audit event). ``reason``: consent_revoked, consent_expired, erasure..."""
    sealed = session.execute(
        update(FaceTemplate).where(FaceTemplate.subject_id == subject_id,
                                   FaceTemplate.ciphertext.is_not(None))
        .values(ciphertext=None, erased_at=now)).rowcount
    portraits = select(Job.portrait_asset_id).where(Job.subject_id == subject_id).union(
        select(PortraitReview.portrait_asset_id).where(PortraitReview.subject_id == subject_id))
    encodings = session.execute(
        update(Asset).where(or_(Asset.subject_id == subject_id, Asset.id.in_(portraits)),
                            Asset.face_encoding.is_not(None))
        .values(face_encoding=None)).rowcount
    if sealed or encodings:
        record(session, context, "retention:subject:delete_templates", f"subject:{subject_id}",
               now=now, payload={"reason": reason, "face_templates": sealed,
                                 "portrait_encodings": encodings})
    return sealed + encodings


def delete_templates_unless_needed(session: Session, context: AuditContext,
                                   subject_id: uuid.UUID, *, reason: str,
                                   now: datetime) -> int:
    if templates_needed(session, subject_id, now):
        return 0
    return delete_templates(session, context, subject_id, reason=reason, now=now)


def subjects_with_unneeded_templates(session: Session, now: datetime,
                                     limit: int = 100) -> list[uuid.UUID]:
    """Subjects that still hold templates but have consents, none of them living, and no
    request in progress (a subject with no consent row yet is mid-registration: kept)."""
    holders = select(FaceTemplate.subject_id.label("subject_id")).where(
        FaceTemplate.ciphertext.is_not(None)).union(
        select(Asset.subject_id).where(Asset.subject_id.is_not(None),
                                       Asset.face_encoding.is_not(None)),
        select(Job.subject_id).join(Asset, Asset.id == Job.portrait_asset_id)
        .where(Asset.face_encoding.is_not(None)),
        select(PortraitReview.subject_id)
        .join(Asset, Asset.id == PortraitReview.portrait_asset_id)
        .where(Asset.face_encoding.is_not(None))).subquery()
    subject = holders.c.subject_id
    has_consent = select(Consent.id).where(Consent.subject_id == subject)
    living = select(Consent.id).where(Consent.subject_id == subject, consent_lives(now))
    asking = select(ConsentRequest.id).where(ConsentRequest.subject_id == subject,
                                             ConsentRequest.status.in_(IN_PROGRESS))
    return list(session.scalars(
        select(subject).where(exists(has_consent), ~exists(living), ~exists(asking))
        .limit(limit)))
