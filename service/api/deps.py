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

from service.api.auth import (
    Credentials,
    Principal,
    StaffPrincipal,
    authenticate,
    read_credentials,
)
from service.api.ratelimit import MemoryRateLimiter, RateDecision, RateLimiter
from service.audit.events import record_access_denied, record_refused_credential
from service.audit.personal import AuditKeyring
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.db.audit import AuditContext
from service.db.engine import session_scope
from service.db.models import Role
from service.db.types import utcnow
from service.domain.assets import Owner
from service.domain.face_templates import TemplateBox
from service.domain.uploads import UploadLimits
from service.errors import ApiKeyUnrecognised, AuthError, RoleMissing, ScopeMissing
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
    # Seals portraits' face encodings on upload and opens them (the gate's key too).
    face_box: TemplateBox
    migration_head: str | None  # the Alembic revision this code expects
    # Seals personal fields in audit events and opens them for officers (service.audit).
    audit_keyring: AuditKeyring | None = None


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
    """The authenticated caller, counted against its rate limit (or its IP's, if refused).

    A refused credential is audited (``auth:*:authenticate``, denied) while the address is
    within its anonymous limit; known API keys were already audited by their own check.
    """
    credentials: Credentials | None = None
    try:
        credentials = read_credentials(authorization, x_api_key)
        with session_scope(services.sessions, commit_on=(AuthError,)) as session:
            principal = authenticate(session, credentials, pepper=services.pepper,
                                     signing_key=services.signing_key,
                                     issuer=services.settings.oauth_issuer,
                                     request_id=request.state.request_id, now=utcnow(),
                                     client_address=request.client.host if request.client
                                     else None)
    except AuthError as refused:
        limit_anonymous(request, services)  # 429 instead once an address keeps failing
        if credentials is not None and (credentials.bearer is not None
                                        or isinstance(refused, ApiKeyUnrecognised)):
            record_refused_credential(services.sessions, anonymous_context(request), refused,
                                      bearer=credentials.bearer is not None)
        raise
    request.state.actor = principal.actor
    bucket = f"key:{principal.key_id}" if isinstance(principal, ApiPrincipal) \
        else f"user:{principal.user_id}"
    decision = services.limiter.hit(bucket, services.settings.rate_limit_per_minute)
    response.headers["X-RateLimit-Limit"] = str(decision.limit)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_partner(request: Request, services: ServicesDep,
                principal: PrincipalDep) -> ApiPrincipal:
    if not isinstance(principal, ApiPrincipal):
        refused = RoleMissing("this endpoint is for partners (an API key or a partner access "
                              "token)", role=Role.PARTNER.value)
        _denied(request, services, principal, refused)
        raise refused
    return principal


PartnerDep = Annotated[ApiPrincipal, Depends(get_partner)]


def require_scopes(*scopes: Scope) -> Callable[[ApiPrincipal], ApiPrincipal]:
    """A dependency: the partner, whose key must carry every one of ``scopes``."""
    def check(request: Request, services: ServicesDep, partner: PartnerDep) -> ApiPrincipal:
        try:
            partner.require(*scopes)
        except ScopeMissing as refused:
            _denied(request, services, partner, refused)
            raise
        return partner
    return check


def require_role(role: Role) -> Callable[[Principal], StaffPrincipal]:
    """A dependency: a staff user holding ``role`` (partners are refused with 403)."""
    def check(request: Request, services: ServicesDep,
              principal: PrincipalDep) -> StaffPrincipal:
        try:
            if not isinstance(principal, StaffPrincipal):
                raise RoleMissing(f"this endpoint is for a {role.value}, not a partner",
                                  role=role.value)
            principal.require_role(role)
        except RoleMissing as refused:
            _denied(request, services, principal, refused)
            raise
        return principal
    return check


def _denied(request: Request, services: ApiServices, principal: Principal,
            refused: AuthError) -> None:
    """Audit an authenticated caller refused for a missing scope or role."""
    resource = f"api_key:{principal.key_id}" if isinstance(principal, ApiPrincipal) \
        else f"user:{principal.user_id}"
    record_access_denied(services.sessions, audit_context(request, principal), refused,
                         resource=resource, path=request.url.path)


OfficerDep = Annotated[StaffPrincipal, Depends(require_role(Role.COMPLIANCE_OFFICER))]


def owner_of(partner: ApiPrincipal) -> Owner:
    return Owner(partner.organisation_id, partner.is_test)


def audit_context(request: Request, principal: Principal) -> AuditContext:
    return AuditContext(actor=principal.actor, request_id=request.state.request_id,
                        client_address=request.client.host if request.client else None,
                        keyring=get_services(request).audit_keyring)


def anonymous_context(request: Request) -> AuditContext:
    """A caller without a (valid) credential, e.g. one whose credential was just refused."""
    return AuditContext(actor="anonymous", request_id=request.state.request_id,
                        client_address=request.client.host if request.client else None,
                        keyring=get_services(request).audit_keyring)
