"""Dependency wiring for the routes, as typed aliases (``SessionDep``, ``PartnerDep``...).

Everything a route needs lives in one ``ApiServices`` built by ``create_app`` and kept on
``app.state``: nothing here is a module-level global. The request's ``SessionDep`` is one
transaction: committed when the route returns (before the response is sent, ``scope=
"function"``), rolled back if it raises. Authentication uses its own short transaction (see
``service.api.auth``) and then counts the request against the caller's rate limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from joserfc.jwk import OctKey
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.api.auth import Principal, StaffPrincipal, authenticate, read_credentials
from service.api.ratelimit import MemoryRateLimiter, RateDecision, RateLimiter
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.db.audit import AuditContext
from service.db.engine import session_scope
from service.db.models import Role
from service.db.types import utcnow
from service.domain.assets import Owner
from service.domain.uploads import UploadLimits
from service.errors import AuthError, RoleMissing
from service.settings import Settings
from service.storage import BlobStore


@dataclass(frozen=True)
class ApiServices:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis | None  # None in the embedded default (no Redis server)
    limiter: RateLimiter | MemoryRateLimiter
    store: BlobStore
    pepper: bytes
    signing_key: OctKey
    limits: UploadLimits
    migration_head: str | None  # the Alembic revision this code expects


def get_services(request: Request) -> ApiServices:
    return request.app.state.services


ServicesDep = Annotated[ApiServices, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_store(services: ServicesDep) -> BlobStore:
    return services.store


def get_session(services: ServicesDep) -> Iterator[Session]:
    with session_scope(services.sessions) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limit_anonymous(request: Request, services: ApiServices) -> RateDecision:
    return services.limiter.hit(f"ip:{client_address(request)}",
                                services.settings.rate_limit_anonymous_per_minute)


def get_principal(request: Request, response: Response, services: ServicesDep,
                  authorization: Annotated[str | None, Header()] = None,
                  x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    """The authenticated caller, counted against its rate limit (or its IP's, if refused)."""
    try:
        credentials = read_credentials(authorization, x_api_key)
        with session_scope(services.sessions, commit_on=(AuthError,)) as session:
            principal = authenticate(session, credentials, pepper=services.pepper,
                                     signing_key=services.signing_key,
                                     issuer=services.settings.oauth_issuer,
                                     request_id=request.state.request_id, now=utcnow())
    except AuthError:
        limit_anonymous(request, services)  # 429 instead once an address keeps failing
        raise
    request.state.actor = principal.actor
    bucket = f"key:{principal.key_id}" if isinstance(principal, ApiPrincipal) \
        else f"user:{principal.user_id}"
    decision = services.limiter.hit(bucket, services.settings.rate_limit_per_minute)
    response.headers["X-RateLimit-Limit"] = str(decision.limit)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_partner(principal: PrincipalDep) -> ApiPrincipal:
    if not isinstance(principal, ApiPrincipal):
        raise RoleMissing("this endpoint is for partners (an API key or a partner access "
                          "token)", role=Role.PARTNER.value)
    return principal


PartnerDep = Annotated[ApiPrincipal, Depends(get_partner)]


def require_scopes(*scopes: Scope) -> Callable[[ApiPrincipal], ApiPrincipal]:
    """A dependency: the partner, whose key must carry every one of ``scopes``."""
    def check(partner: PartnerDep) -> ApiPrincipal:
        partner.require(*scopes)
        return partner
    return check


def require_role(role: Role) -> Callable[[Principal], StaffPrincipal]:
    """A dependency: a staff user holding ``role`` (partners are refused with 403)."""
    def check(principal: PrincipalDep) -> StaffPrincipal:
        if not isinstance(principal, StaffPrincipal):
            raise RoleMissing(f"this endpoint is for a {role.value}, not a partner",
                              role=role.value)
        principal.require_role(role)
        return principal
    return check


OfficerDep = Annotated[StaffPrincipal, Depends(require_role(Role.COMPLIANCE_OFFICER))]


def owner_of(partner: ApiPrincipal) -> Owner:
    return Owner(partner.organisation_id, partner.is_test)


def audit_context(request: Request, principal: Principal) -> AuditContext:
    return AuditContext(actor=principal.actor, request_id=request.state.request_id)
