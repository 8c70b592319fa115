"""Partner API keys: issued once, stored as a keyed hash, checked in constant time.

A token reads ``lk_live_<key id>_<secret>`` (or ``lk_test_``): the key id (16 base32 chars,
80 bits) is public and indexes the row; the secret (32 base32 chars, 160 bits) is shown once
at creation and never stored. The row keeps HMAC-SHA256(pepper, whole token), so the
environment and key id are bound into the hash and a database dump alone cannot confirm a
guess. Live keys need a vetted organisation; a suspended organisation's keys all fail.

Audit: creation, revocation, a refused authentication of a *known* key id, and ``last_used_at``
moving (at most once per ``LAST_USED_RESOLUTION`` per key; ``first_use: true`` the first time)
each append an event. Malformed and unknown tokens append none here (``ApiKeyUnrecognised``):
anyone on the internet can send those, so the API records them only within the caller's
anonymous rate limit. A refusal is recorded and then raised; the caller keeps the event by
committing anyway (``session_scope(factory, commit_on=(AuthError,))``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from policy.audit import Outcome
from service.auth.scopes import Scope, parse_scopes
from service.auth.users import require_partner_or_operator
from service.db.audit import AuditContext, record
from service.db.models import ApiKey, KeyEnvironment, Organisation, OrganisationStatus
from service.db.types import utcnow
from service.errors import (
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyRevoked,
    ApiKeyUnrecognised,
    AuthError,
    NotFound,
    OrganisationNotVetted,
    OrganisationSuspended,
    RequestInvalid,
    ScopeMissing,
)

KEY_ID_BYTES = 10  # 16 base32 characters
SECRET_BYTES = 20  # 32 base32 characters, 160 bits
LAST_USED_RESOLUTION = timedelta(minutes=1)
_TOKEN = re.compile(r"lk_(live|test)_([a-z2-7]{16})_([a-z2-7]{32})")
# Hashed when the key id is unknown, so that path costs the same as a wrong secret.
_DUMMY_TOKEN = "lk_live_" + "a" * 16 + "_" + "a" * 32


@dataclass(frozen=True)
class IssuedApiKey:
    """A new key. ``token`` is the only copy of the secret: show it once, then drop it."""

    token: str = field(repr=False)
    key_id: str
    api_key_id: uuid.UUID
    organisation_id: uuid.UUID
    environment: KeyEnvironment
    scopes: frozenset[Scope]
    expires_at: datetime | None


@dataclass(frozen=True)
class ApiPrincipal:
    """The caller an authenticated key stands for."""

    api_key_id: uuid.UUID
    key_id: str
    organisation_id: uuid.UUID
    environment: KeyEnvironment
    scopes: frozenset[Scope]

    @property
    def is_test(self) -> bool:
        return self.environment == KeyEnvironment.TEST

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"

    def require(self, *scopes: Scope) -> None:
        missing = sorted(set(scopes) - self.scopes)
        if missing:
            raise ScopeMissing(f"API key {self.key_id} lacks scope(s) {', '.join(missing)}",
                               key_id=self.key_id, missing=missing)


def hash_token(pepper: bytes, token: str) -> bytes:
    return hmac.new(pepper, token.encode("ascii"), hashlib.sha256).digest()


def _random_base32(n_bytes: int) -> str:
    return base64.b32encode(secrets.token_bytes(n_bytes)).decode("ascii").lower().rstrip("=")


def create_api_key(session: Session, context: AuditContext, *, organisation_id: uuid.UUID,
                   created_by: uuid.UUID, name: str, scopes: Iterable[str],
                   environment: KeyEnvironment, pepper: bytes, expires_at: datetime | None = None,
                   now: datetime | None = None) -> IssuedApiKey:
    """Issue a key for the organisation (by one of its partners or an operator)."""
    now = now or utcnow()
    environment = KeyEnvironment(environment)
    granted = parse_scopes(scopes)
    if not granted:
        raise RequestInvalid("an API key needs at least one scope", field="scopes")
    if not 0 < len(name.strip()) <= 100:
        raise RequestInvalid("API-key name must be 1-100 characters", field="name")
    if expires_at is not None and expires_at <= now:
        raise RequestInvalid("API-key expiry is in the past", field="expires_at")
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}", resource="organisation",
                       id=str(organisation_id))
    require_partner_or_operator(session, created_by, organisation_id)
    _check_organisation(organisation, environment, key_id=None)
    key_id = _random_base32(KEY_ID_BYTES)
    token = f"lk_{environment.value}_{key_id}_{_random_base32(SECRET_BYTES)}"
    row = ApiKey(key_id=key_id, environment=environment, secret_hash=hash_token(pepper, token),
                 name=name.strip(), scopes=sorted(s.value for s in granted),
                 organisation_id=organisation_id, created_at=now, created_by_id=created_by,
                 expires_at=expires_at)
    session.add(row)
    session.flush()
    record(session, context, "auth:api_key:create", f"api_key:{key_id}", now=now,
           payload={"organisation_id": str(organisation_id), "environment": environment.value,
                    "scopes": row.scopes, "name": row.name, "created_by": str(created_by),
                    "expires_at": None if expires_at is None else expires_at.isoformat()})
    return IssuedApiKey(token=token, key_id=key_id, api_key_id=row.id,
                        organisation_id=organisation_id, environment=environment,
                        scopes=granted, expires_at=expires_at)


def authenticate_api_key(session: Session, token: str, *, pepper: bytes,
                         required_scopes: Iterable[Scope] = (), request_id: str | None = None,
                         client_address: str | None = None,
                         now: datetime | None = None) -> ApiPrincipal:
    """The principal for ``token``, or an ``AuthError`` (recorded first for a known key id)."""
    now = now or utcnow()
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise ApiKeyUnrecognised("not a likeness API key (lk_live_... or lk_test_...)")
    key_id = match.group(2)
    # The organisation comes in the same round trip: every request checks its status.
    row = session.scalar(select(ApiKey).options(joinedload(ApiKey.organisation))
                         .where(ApiKey.key_id == key_id))
    presented = hash_token(pepper, token)
    if row is None:
        hmac.compare_digest(presented, hash_token(pepper, _DUMMY_TOKEN))
        raise ApiKeyUnrecognised("API key not recognised", key_id=key_id)
    # The caller is only "the key" once it has shown the secret.
    proven = hmac.compare_digest(presented, row.secret_hash)
    context = AuditContext(actor=f"api_key:{key_id}" if proven else "anonymous",
                           request_id=request_id, client_address=client_address)
    try:
        if not proven:
            raise ApiKeyInvalid("API key not recognised", key_id=key_id)
        check_key_usable(row, now)
        principal = ApiPrincipal(api_key_id=row.id, key_id=key_id,
                                 organisation_id=row.organisation_id,
                                 environment=row.environment, scopes=parse_scopes(row.scopes))
        principal.require(*required_scopes)
    except AuthError as refused:
        record(session, context, "auth:api_key:authenticate", f"api_key:{key_id}", now=now,
               outcome=Outcome.DENIED, payload={"code": refused.code})
        raise
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        first_use = row.last_used_at is None
        row.last_used_at = now
        session.flush()
        record(session, context, "auth:api_key:use", f"api_key:{key_id}", now=now,
               payload={"first_use": True} if first_use else None)
    return principal


def revoke_api_key(session: Session, context: AuditContext, *, key_id: str,
                   revoked_by: uuid.UUID, now: datetime | None = None) -> bool:
    """Revoke a key (its organisation's partner or an operator); False if already revoked."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id).with_for_update())
    if row is None:
        raise NotFound(f"no API key {key_id}", resource="api_key", id=key_id)
    require_partner_or_operator(session, revoked_by, row.organisation_id)
    if row.revoked_at is not None:
        return False
    now = now or utcnow()
    row.revoked_at = now
    row.revoked_by_id = revoked_by
    session.flush()
    record(session, context, "auth:api_key:revoke", f"api_key:{key_id}", now=now,
           payload={"revoked_by": str(revoked_by)})
    return True


def check_key_usable(row: ApiKey, now: datetime) -> None:
    if row.revoked_at is not None:
        raise ApiKeyRevoked(f"API key {row.key_id} was revoked", key_id=row.key_id,
                            revoked_at=row.revoked_at.isoformat())
    if row.expires_at is not None and row.expires_at <= now:
        raise ApiKeyExpired(f"API key {row.key_id} expired", key_id=row.key_id,
                            expires_at=row.expires_at.isoformat())
    _check_organisation(row.organisation, row.environment, key_id=row.key_id)


def _check_organisation(organisation: Organisation, environment: KeyEnvironment,
                        key_id: str | None) -> None:
    if organisation.status == OrganisationStatus.SUSPENDED:
        raise OrganisationSuspended(f"organisation {organisation.id} is suspended",
                                    organisation_id=str(organisation.id), key_id=key_id)
    if environment == KeyEnvironment.LIVE and organisation.status != OrganisationStatus.VETTED:
        raise OrganisationNotVetted(
            f"organisation {organisation.id} is {organisation.status.value}: live keys need a "
            "vetted organisation (test keys work meanwhile)",
            organisation_id=str(organisation.id), key_id=key_id)
