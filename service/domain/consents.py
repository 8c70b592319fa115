"""A compliance officer's review of consent: approve (with the granted scope), reject or
revoke, each with a reason where it refuses, and each recorded in the audit chain.

    pending --approve--> approved --revoke--> revoked
       \\--reject--> rejected

Revocation (by an officer here, or by the subject on the private page) is
``service.domain.revocation.revoke``: it cancels the consent's jobs, flags its artifacts in
the provenance registry and deletes the subject's face templates once no consent needs them.

The officer may narrow the request, never widen it: approved purposes are a subset of both the
requested ones and the configured vocabulary, and the approved expiry is no later than the
requested one. The consent row is locked (``FOR UPDATE`` on PostgreSQL) so two officers cannot
both decide it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.models import Consent, ConsentStatus, Role
from service.db.types import utcnow
from service.domain.subjects import check_expiry, check_purposes
from service.errors import NotFound, RequestInvalid, StateConflict

MAX_REASON_CHARS = 2000


def get_consent(session: Session, consent_id: uuid.UUID, *, lock: bool = False) -> Consent:
    query = select(Consent).where(Consent.id == consent_id)
    consent = session.scalar(query.with_for_update() if lock else query)
    if consent is None:
        raise NotFound(f"no consent {consent_id}", resource="consent", id=str(consent_id))
    return consent


def list_consents(session: Session, *, status: ConsentStatus | None, limit: int,
                  after: uuid.UUID | None = None) -> list[Consent]:
    """Consents across partners, oldest request first for the review queue (ids are UUIDv7,
    so id order is request order); ``after`` continues from the last id of a page."""
    query = select(Consent).order_by(Consent.id).limit(limit)
    if status is not None:
        query = query.where(Consent.status == status)
    if after is not None:
        query = query.where(Consent.id > after)
    return list(session.scalars(query))


def approve_consent(session: Session, context: AuditContext, *, consent_id: uuid.UUID,
                    officer_id: uuid.UUID, purposes: Iterable[str], expires_at: datetime,
                    vocabulary: Iterable[str], now: datetime | None = None) -> Consent:
    now = now or utcnow()
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    granted = check_purposes(purposes, vocabulary)
    check_expiry(expires_at, now)
    consent = _pending(session, consent_id, "approve")
    wider = sorted(granted - set(consent.purposes))
    if wider:
        raise RequestInvalid(f"purpose(s) {', '.join(wider)} were not requested; an approval "
                             "may narrow the request, never widen it", field="purposes",
                             requested=consent.purposes, unrequested=wider)
    if consent.expires_at is not None and expires_at > consent.expires_at:
        raise RequestInvalid("the approved expiry is later than the requested one",
                             field="expires_at", requested=consent.expires_at.isoformat())
    requested = {"purposes": consent.purposes,
                 "expires_at": None if consent.expires_at is None
                 else consent.expires_at.isoformat()}
    consent.status = ConsentStatus.APPROVED
    consent.purposes = sorted(granted)
    consent.expires_at = expires_at
    _reviewed(consent, officer_id, now, reason=None)
    session.flush()
    record(session, context, "compliance:consent:approve", f"consent:{consent.id}", now=now,
           payload={"officer_id": str(officer_id), "purposes": consent.purposes,
                    "expires_at": expires_at.isoformat(), "requested": requested,
                    "organisation_id": str(consent.organisation_id),
                    "subject_id": str(consent.subject_id)})
    return consent


def reject_consent(session: Session, context: AuditContext, *, consent_id: uuid.UUID,
                   officer_id: uuid.UUID, reason: str, now: datetime | None = None) -> Consent:
    now = now or utcnow()
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    reason = _check_reason(reason)
    consent = _pending(session, consent_id, "reject")
    consent.status = ConsentStatus.REJECTED
    _reviewed(consent, officer_id, now, reason=reason)
    session.flush()
    record(session, context, "compliance:consent:reject", f"consent:{consent.id}", now=now,
           payload={"officer_id": str(officer_id), "reason": reason,
                    "subject_id": str(consent.subject_id)})
    return consent


def revoke_consent(session: Session, context: AuditContext, *, consent_id: uuid.UUID,
                   officer_id: uuid.UUID, reason: str, now: datetime | None = None) -> Consent:
    """Approved -> revoked by an officer, with everything a revocation reaches (jobs
    cancelled, artifacts flagged, templates deleted: ``service.domain.revocation``)."""
    from service.domain.revocation import RevokedBy, revoke

    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    return revoke(session, context, consent_id=consent_id, by=RevokedBy.OFFICER,
                  reason=reason, officer_id=officer_id, now=now).consent


def _pending(session: Session, consent_id: uuid.UUID, verb: str) -> Consent:
    consent = get_consent(session, consent_id, lock=True)
    if consent.status != ConsentStatus.PENDING:
        raise StateConflict(f"consent {consent_id} is {consent.status.value}; only a pending "
                            f"consent can be {verb}d", status=consent.status.value)
    return consent


def _reviewed(consent: Consent, officer_id: uuid.UUID, now: datetime, *,
              reason: str | None) -> None:
    consent.reviewer_id = officer_id
    consent.reviewed_at = now
    consent.reason = reason


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise RequestInvalid(f"give a reason of 1-{MAX_REASON_CHARS} characters", field="reason")
    return reason
