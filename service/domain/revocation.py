"""Revoking a consent, and everything it reaches: one function for the subject and officers.

    approved --revoke--> revoked, and in the same transaction:
      - every job under the consent that is held, queued or running is cancelled
        (``cancel_job``: a queued job's task is never sent or is skipped when delivered; a
        running one loses its lease and its worker stops at the next motion window);
      - new jobs are refused by the consent gate (``consent_revoked``), at submission and
        again when a worker starts;
      - every artifact already issued under it is flagged in the provenance registry
        (``Artifact.consent_revoked_at``), so ``likeness verify`` and ``POST /v1/verify``
        say "consent revoked on <date>";
      - officers' pending and accepted reviews of job portraits filed under it are voided
        (``service.domain.portrait_reviews``): an accepted portrait passes the gate no more;
      - the subject's face templates are deleted unless another living consent needs them
        (``service.domain.biometrics``).

Each effect is its own audit event (the revocation, each cancellation, each flag, each voided
review, the template deletion) under the actor who revoked: an officer (``user:<uuid>``) or
the subject through the private page (``subject:<subject id>``, pseudonymous). The consent
row is locked (``FOR UPDATE``) so a revocation and an approval or a second revocation cannot
interleave.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import Artifact, Consent, ConsentStatus, Job
from service.db.types import utcnow
from service.domain.biometrics import delete_templates_unless_needed
from service.domain.portrait_reviews import void_reviews
from service.errors import NotFound, RequestInvalid, StateConflict

MAX_REASON_CHARS = 2000


class RevokedBy(enum.StrEnum):
    OFFICER = "officer"
    SUBJECT = "subject"


@dataclass(frozen=True)
class Revocation:
    consent: Consent
    cancelled_jobs: tuple[uuid.UUID, ...]
    flagged_assets: tuple[str, ...]  # artifact asset ids now flagged in the registry
    templates_deleted: int


def revoke(session: Session, context: AuditContext, *, consent_id: uuid.UUID,
           by: RevokedBy, reason: str, officer_id: uuid.UUID | None = None,
           now: datetime | None = None) -> Revocation:
    """Approved -> revoked with every effect above, in the caller's transaction."""
    from service.jobs.cancel import CANCELLABLE, cancel_job  # jobs import the domain package

    now = now or utcnow()
    reason = _check_reason(reason)
    consent = session.get(Consent, consent_id, with_for_update=True, populate_existing=True)
    if consent is None:
        raise NotFound(f"no consent {consent_id}", resource="consent", id=str(consent_id))
    if consent.status != ConsentStatus.APPROVED:
        raise StateConflict(f"consent {consent_id} is {consent.status.value}; only an approved "
                            "consent can be revoked (reject a pending one)",
                            status=consent.status.value)
    consent.status, consent.revoked_at, consent.reason = ConsentStatus.REVOKED, now, reason
    session.flush()
    source = "compliance" if by == RevokedBy.OFFICER else "subject"
    record(session, context, f"{source}:consent:revoke", f"consent:{consent.id}", now=now,
           payload={"by": by.value, "reason": reason, "subject_id": str(consent.subject_id),
                    "officer_id": None if officer_id is None else str(officer_id)})
    jobs = session.scalars(select(Job.id).where(Job.consent_id == consent.id,
                                                Job.state.in_(CANCELLABLE))
                           .order_by(Job.id)).all()
    for job_id in jobs:
        cancel_job(session, context, job_id, now=now)
    flagged = _flag_artifacts(session, context, consent, now)
    void_reviews(session, context, consent_id=consent.id, reason="consent_revoked", now=now)
    deleted = delete_templates_unless_needed(session, context, consent.subject_id,
                                             reason="consent_revoked", now=now)
    session.refresh(consent)
    return Revocation(consent, tuple(jobs), flagged, deleted)


def _flag_artifacts(session: Session, context: AuditContext, consent: Consent,
                    now: datetime) -> tuple[str, ...]:
    artifacts = session.scalars(select(Artifact).where(
        Artifact.consent_id == consent.id, Artifact.consent_revoked_at.is_(None))
        .order_by(Artifact.created_at).with_for_update()).all()
    for artifact in artifacts:
        artifact.consent_revoked_at = now
        session.flush()
        record(session, context, "registry:artifact:flag_revoked", f"artifact:{artifact.asset_id}",
               now=now, payload={"consent_id": str(consent.id),
                                 "job_id": None if artifact.job_id is None
                                 else str(artifact.job_id),
                                 "sha256": artifact.sha256})
    return tuple(artifact.asset_id for artifact in artifacts)


def _check_reason(reason: str) -> str:
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise RequestInvalid(f"give a reason of 1-{MAX_REASON_CHARS} characters", field="reason")
    return reason
