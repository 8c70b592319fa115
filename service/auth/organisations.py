"""An organisation's life: created pending, accepts the acceptable use policy, vetted by an
operator, possibly suspended (and reinstated by vetting it again).

Suspension needs no sweep over credentials: authentication checks the organisation's status on
every request, so all its API keys stop working at once and work again if it is reinstated.
Transitions lock the organisation row (``FOR UPDATE`` on PostgreSQL) so two operators acting
at once cannot interleave, and each appends its audit event in the caller's transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.models import Organisation, OrganisationStatus, Role
from service.db.types import utcnow
from service.errors import NotFound, RequestInvalid, StateConflict

MAX_USE_CASE_CHARS = 4000


def create_organisation(session: Session, context: AuditContext, *, name: str,
                        declared_use_case: str, now: datetime | None = None) -> Organisation:
    name, use_case = name.strip(), declared_use_case.strip()
    if not 0 < len(name) <= 200:
        raise RequestInvalid("organisation name must be 1-200 characters", field="name")
    if not 0 < len(use_case) <= MAX_USE_CASE_CHARS:
        raise RequestInvalid(f"declared use case must be 1-{MAX_USE_CASE_CHARS} characters",
                             field="declared_use_case")
    now = now or utcnow()
    organisation = Organisation(name=name, declared_use_case=use_case,
                                status=OrganisationStatus.PENDING, created_at=now)
    session.add(organisation)
    session.flush()
    record(session, context, "org:organisation:create", _resource(organisation), now=now,
           payload={"name": name, "declared_use_case": use_case})
    return organisation


def accept_aup(session: Session, context: AuditContext, *, organisation_id: uuid.UUID,
               user_id: uuid.UUID, aup_version: str, now: datetime | None = None) -> Organisation:
    """A partner of the organisation accepts the acceptable use policy ``aup_version``."""
    if not 0 < len(aup_version) <= 40:
        raise RequestInvalid("AUP version must be 1-40 characters", field="aup_version")
    organisation = _locked(session, organisation_id)
    require_role(session, user_id, Role.PARTNER, organisation_id)
    now = now or utcnow()
    organisation.aup_version = aup_version
    organisation.aup_accepted_at = now
    organisation.aup_accepted_by_id = user_id
    session.flush()
    record(session, context, "org:organisation:accept_aup", _resource(organisation), now=now,
           payload={"aup_version": aup_version, "user_id": str(user_id)})
    return organisation


def vet_organisation(session: Session, context: AuditContext, *, organisation_id: uuid.UUID,
                     operator_id: uuid.UUID, now: datetime | None = None) -> Organisation:
    """Pending -> vetted, or suspended -> vetted (reinstatement). Needs the AUP accepted."""
    require_role(session, operator_id, Role.OPERATOR)
    organisation = _locked(session, organisation_id)
    if organisation.status == OrganisationStatus.VETTED:
        raise StateConflict(f"organisation {organisation_id} is already vetted",
                            status=organisation.status.value)
    if organisation.aup_accepted_at is None:
        raise StateConflict(f"organisation {organisation_id} has not accepted the acceptable "
                            "use policy", status=organisation.status.value)
    now = now or utcnow()
    previous = organisation.status
    organisation.status = OrganisationStatus.VETTED
    organisation.vetted_at = now
    organisation.vetted_by_id = operator_id
    organisation.suspended_at = None
    organisation.suspended_reason = None
    session.flush()
    record(session, context, "org:organisation:vet", _resource(organisation), now=now,
           payload={"from": previous.value, "operator_id": str(operator_id)})
    return organisation


def suspend_organisation(session: Session, context: AuditContext, *, organisation_id: uuid.UUID,
                         operator_id: uuid.UUID, reason: str,
                         now: datetime | None = None) -> Organisation:
    """Pending or vetted -> suspended: every credential of the organisation stops working."""
    if not reason.strip():
        raise RequestInvalid("a suspension needs a reason", field="reason")
    require_role(session, operator_id, Role.OPERATOR)
    organisation = _locked(session, organisation_id)
    if organisation.status == OrganisationStatus.SUSPENDED:
        raise StateConflict(f"organisation {organisation_id} is already suspended",
                            status=organisation.status.value)
    now = now or utcnow()
    previous = organisation.status
    organisation.status = OrganisationStatus.SUSPENDED
    organisation.suspended_at = now
    organisation.suspended_reason = reason.strip()
    session.flush()
    record(session, context, "org:organisation:suspend", _resource(organisation), now=now,
           payload={"from": previous.value, "operator_id": str(operator_id),
                    "reason": reason.strip()})
    return organisation


def _locked(session: Session, organisation_id: uuid.UUID) -> Organisation:
    organisation = session.get(Organisation, organisation_id, with_for_update=True,
                               populate_existing=True)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}", resource="organisation",
                       id=str(organisation_id))
    return organisation


def _resource(organisation: Organisation) -> str:
    return f"organisation:{organisation.id}"
