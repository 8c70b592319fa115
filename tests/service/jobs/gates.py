"""A consent gate over the consents table alone (status, purpose, expiry; no face match), in a
module of its own so a worker subprocess can load it (``--gate tests.service.jobs.gates:...``).

The application's gate (``policy.consent`` fed from the database) also matches the portrait
against the subject's reference portraits; these tests exercise what the job code does with
a decision, so the table's answer is all they need.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Consent, ConsentStatus
from service.jobs import GateRequest


@dataclass(frozen=True)
class TableDecision:
    allowed: bool
    reason: str | None
    consent_id: uuid.UUID | None


def consent_table_gate(session: Session, request: GateRequest) -> TableDecision:
    consents = session.scalars(
        select(Consent).where(Consent.subject_id == request.subject_id,
                              Consent.organisation_id == request.organisation_id)
        .order_by(Consent.requested_at.desc())
        .execution_options(populate_existing=True)).all()
    for consent in consents:
        if (consent.status == ConsentStatus.APPROVED and request.purpose in consent.purposes
                and (consent.expires_at is None or consent.expires_at > request.now)):
            return TableDecision(True, None, consent.id)
    if not consents:
        return TableDecision(False, "consent_missing", None)
    newest = consents[0]
    reason = {ConsentStatus.PENDING: "consent_pending", ConsentStatus.REJECTED: "consent_rejected",
              ConsentStatus.REVOKED: "consent_revoked"}.get(newest.status)
    if reason is None:
        reason = ("purpose_not_covered" if request.purpose not in newest.purposes
                  else "consent_expired")
    return TableDecision(False, reason, newest.id)
