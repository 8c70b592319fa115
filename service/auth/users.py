"""People and their roles: create users, grant roles, check a role before an action.

``partner`` is granted for one organisation; the platform roles (compliance officer, verifier,
operator) have none. A disabled user holds no role. ``granted_by=None`` is the bootstrap path
(the operator CLI creating the first operator, actor ``system:cli``); every API path passes the
acting user, who must be an operator.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.personal import seal_fields
from service.db.audit import AuditContext, record
from service.db.models import PLATFORM_ROLES, Organisation, Role, RoleGrant, User
from service.db.types import utcnow
from service.errors import NotFound, RequestInvalid, RoleMissing, StateConflict

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def create_user(session: Session, context: AuditContext, *, email: str, display_name: str,
                now: datetime | None = None) -> User:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 320:
        raise RequestInvalid(f"{email!r} is not an email address", field="email")
    if not display_name.strip():
        raise RequestInvalid("display name is empty", field="display_name")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise StateConflict(f"a user with email {email} exists", field="email")
    now = now or utcnow()
    user = User(email=email, display_name=display_name.strip(), created_at=now)
    session.add(user)
    session.flush()
    record(session, context, "auth:user:create", f"user:{user.id}", now=now,
           payload=seal_fields(session, context, f"user:{user.id}", {"email": email}))
    return user


def grant_role(session: Session, context: AuditContext, *, user_id: uuid.UUID, role: Role,
               organisation_id: uuid.UUID | None = None, granted_by: uuid.UUID | None = None,
               now: datetime | None = None) -> RoleGrant:
    role = Role(role)
    if (role == Role.PARTNER) != (organisation_id is not None):
        raise RequestInvalid("the partner role needs an organisation; platform roles take none",
                             field="organisation_id", role=role.value)
    if granted_by is not None:
        require_role(session, granted_by, Role.OPERATOR)
    if session.get(User, user_id) is None:
        raise NotFound(f"no user {user_id}", resource="user", id=str(user_id))
    if organisation_id is not None and session.get(Organisation, organisation_id) is None:
        raise NotFound(f"no organisation {organisation_id}", resource="organisation",
                       id=str(organisation_id))
    if has_role(session, user_id, role, organisation_id):
        raise StateConflict(f"user {user_id} already has role {role.value}", role=role.value)
    now = now or utcnow()
    grant = RoleGrant(user_id=user_id, role=role, organisation_id=organisation_id,
                      granted_at=now, granted_by_id=granted_by)
    session.add(grant)
    session.flush()
    record(session, context, "auth:role:grant", f"user:{user_id}", now=now,
           payload={"role": role.value, "organisation_id": _str(organisation_id),
                    "granted_by": _str(granted_by)})
    return grant


def has_role(session: Session, user_id: uuid.UUID, role: Role,
             organisation_id: uuid.UUID | None = None) -> bool:
    """Whether an enabled user holds ``role`` (for ``organisation_id``, if a partner role)."""
    query = (select(RoleGrant.id).join(User, User.id == RoleGrant.user_id)
             .where(RoleGrant.user_id == user_id, RoleGrant.role == role,
                    User.disabled_at.is_(None)))
    if role in PLATFORM_ROLES:
        query = query.where(RoleGrant.organisation_id.is_(None))
    else:
        query = query.where(RoleGrant.organisation_id == organisation_id)
    return session.scalar(query.limit(1)) is not None


def require_role(session: Session, user_id: uuid.UUID, role: Role,
                 organisation_id: uuid.UUID | None = None) -> None:
    if not has_role(session, user_id, role, organisation_id):
        where = f" for organisation {organisation_id}" if organisation_id else ""
        raise RoleMissing(f"user {user_id} is not a {role.value}{where}", role=role.value,
                          user_id=str(user_id))


def require_partner_or_operator(session: Session, user_id: uuid.UUID,
                                organisation_id: uuid.UUID) -> None:
    """Actions on an organisation's own resources: its partners, or any operator."""
    if not (has_role(session, user_id, Role.PARTNER, organisation_id)
            or has_role(session, user_id, Role.OPERATOR)):
        raise RoleMissing(f"user {user_id} is neither a partner of organisation "
                          f"{organisation_id} nor an operator", role=Role.PARTNER.value,
                          user_id=str(user_id))


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
