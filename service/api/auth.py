"""Who is calling: an API key (``X-Api-Key: lk_...`` or ``Authorization: Bearer lk_...``), a
partner access token from the OAuth2 endpoint, or a staff token (``Authorization: Bearer
<jwt>``).

Partners become ``ApiPrincipal`` whichever credential they used; staff become
``StaffPrincipal`` with the platform roles they hold *now* (read from the database on every
request). Authentication runs in its own transaction, committed even when it refuses, so the
audit events of refused known keys survive the failed request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from joserfc.jwk import OctKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.tokens import PARTNER, verify_token
from service.auth.api_keys import ApiPrincipal, check_key_usable, authenticate_api_key
from service.auth.scopes import parse_scopes
from service.db.models import PLATFORM_ROLES, ApiKey, Role, RoleGrant, User
from service.errors import ApiKeyInvalid, CredentialsMissing, RoleMissing, TokenInvalid

API_KEY_PREFIX = "lk_"


@dataclass(frozen=True)
class StaffPrincipal:
    """A platform user (compliance officer, verifier, operator) with the roles held now."""

    user_id: uuid.UUID
    roles: frozenset[Role]

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"

    def require_role(self, role: Role) -> None:
        if role not in self.roles:
            raise RoleMissing(f"user {self.user_id} is not a {role.value}", role=role.value,
                              user_id=str(self.user_id))


Principal = ApiPrincipal | StaffPrincipal


@dataclass(frozen=True)
class Credentials:
    """What the request presented: an ``lk_`` API key or a bearer JWT (exactly one)."""

    api_key: str | None = None
    bearer: str | None = None


def read_credentials(authorization: str | None, x_api_key: str | None) -> Credentials:
    if x_api_key:
        return Credentials(api_key=x_api_key.strip())
    if not authorization:
        raise CredentialsMissing("send an API key (X-Api-Key: lk_... or Authorization: Bearer "
                                 "lk_...) or an access token (Authorization: Bearer ...)")
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise CredentialsMissing("the Authorization header must read 'Bearer <token>'")
    if value.startswith(API_KEY_PREFIX):
        return Credentials(api_key=value)
    return Credentials(bearer=value)


def authenticate(session: Session, credentials: Credentials, *, pepper: bytes,
                 signing_key: OctKey, issuer: str, request_id: str | None,
                 now: datetime, client_address: str | None = None) -> Principal:
    if credentials.api_key is not None:
        return authenticate_api_key(session, credentials.api_key, pepper=pepper,
                                    request_id=request_id, client_address=client_address,
                                    now=now)
    claims = verify_token(signing_key, credentials.bearer or "", issuer=issuer, now=now)
    if claims.kind == PARTNER:
        return _partner(session, claims.key_id or "", claims.scopes, now)
    return _staff(session, claims.user_id)


def _partner(session: Session, key_id: str, scopes: frozenset, now: datetime) -> ApiPrincipal:
    row = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if row is None:
        raise ApiKeyInvalid("the token's API key no longer exists", key_id=key_id)
    check_key_usable(row, now)  # revoked, expired, organisation suspended or not vetted
    return ApiPrincipal(api_key_id=row.id, key_id=row.key_id,
                        organisation_id=row.organisation_id, environment=row.environment,
                        scopes=scopes & parse_scopes(row.scopes))


def _staff(session: Session, user_id: uuid.UUID | None) -> StaffPrincipal:
    user = None if user_id is None else session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        raise TokenInvalid("the token's user is unknown or disabled")
    roles = session.scalars(select(RoleGrant.role).where(
        RoleGrant.user_id == user.id, RoleGrant.role.in_(PLATFORM_ROLES),
        RoleGrant.organisation_id.is_(None)))
    return StaffPrincipal(user.id, frozenset(roles))
