"""``POST /v1/oauth/token``: OAuth2 client credentials (RFC 6749 §4.4) with authlib.

The client id is the API key's id (the ``<key id>`` in ``lk_live_<key id>_<secret>``) and the
client secret is the whole API key, sent by HTTP Basic or in the form. The answer is a JWT
access token (RFC 9068, HS256) valid ``oauth_token_ttl_seconds``, carrying the organisation,
the key id, test/live and the granted scopes (those requested, within the key's own; all of
the key's when none are asked for). Errors follow RFC 6749 §5.2 (``{"error":
"invalid_client", ...}``), which OAuth client libraries expect; the endpoint is rate limited
per client address like other unauthenticated calls.

authlib ships no Starlette server integration, so ``_Server`` supplies the three framework
hooks (request, response, signals) over a form already read from the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Error, OAuth2Payload, grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.api.deps import ApiServices, ServicesDep, limit_anonymous
from service.api.tokens import ALGORITHM, AUDIENCE, partner_claims
from service.auth.api_keys import ApiPrincipal, authenticate_api_key
from service.db.audit import AuditContext, record
from service.db.engine import session_scope
from service.db.models import ApiKey
from service.errors import AuthError

router = APIRouter(prefix="/v1/oauth", tags=["oauth"])


class _Payload(OAuth2Payload):
    def __init__(self, form: Mapping[str, str]) -> None:
        self._form = dict(form)

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: [value] for key, value in self._form.items()}


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Mapping[str, str],
                 form: Mapping[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = _Payload(form)
        self._form = dict(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Client(ClientMixin):
    """An API key seen as an OAuth client; the secret is checked by the key's own hash."""

    def __init__(self, session: Session, services: ApiServices, row: ApiKey,
                 request_id: str | None, client_address: str | None = None) -> None:
        self.session, self.services, self.row, self.request_id = session, services, row, \
            request_id
        self.client_address = client_address
        self.principal: ApiPrincipal | None = None

    def get_client_id(self) -> str:
        return self.row.key_id

    def check_client_secret(self, client_secret: str) -> bool:
        try:
            principal = authenticate_api_key(self.session, client_secret,
                                             pepper=self.services.pepper,
                                             request_id=self.request_id,
                                             client_address=self.client_address)
        except AuthError:
            return False
        if principal.key_id != self.row.key_id:
            return False
        self.principal = principal
        return True

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == grants.ClientCredentialsGrant.GRANT_TYPE

    def get_allowed_scope(self, scope: str | None) -> str:
        owned = set(self.row.scopes)
        wanted = set(scope_to_list(scope) or owned)
        return " ".join(sorted(wanted & owned))


class _TokenGenerator(JWTBearerTokenGenerator):
    def __init__(self, services: ApiServices) -> None:
        ttl = services.settings.oauth_token_ttl_seconds
        super().__init__(issuer=services.settings.oauth_issuer, alg=ALGORITHM,
                         expires_generator=lambda client, grant_type: ttl)
        self.key = services.signing_key

    def get_jwks(self) -> Any:
        return self.key

    def get_audiences(self, client: _Client, user: Any, scope: str) -> str:
        return AUDIENCE

    def get_extra_claims(self, client: _Client, grant_type: str, user: Any,
                         scope: str) -> dict[str, str]:
        return partner_claims(organisation_id=client.row.organisation_id,
                              environment=client.row.environment)


class _ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _Server(AuthorizationServer):
    def __init__(self, session: Session, services: ApiServices, request_id: str | None,
                 client_address: str | None = None) -> None:
        super().__init__()
        self.session, self.services, self.request_id = session, services, request_id
        self.client_address = client_address
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", _TokenGenerator(services))

    def query_client(self, client_id: str) -> _Client | None:
        row = self.session.scalar(select(ApiKey).where(ApiKey.key_id == client_id))
        return None if row is None else _Client(self.session, self.services, row,
                                                self.request_id, self.client_address)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are self-contained JWTs: nothing to store; the issuance is audited."""
        client = request.client
        record(self.session, AuditContext(actor=f"api_key:{client.row.key_id}",
                                          request_id=self.request_id,
                                          client_address=self.client_address),
               "auth:token:issue", f"api_key:{client.row.key_id}",
               payload={"kind": "partner", "scope": token.get("scope"),
                        "expires_in": token.get("expires_in")})

    def create_oauth2_request(self, request: _Request) -> _Request:
        return request

    def handle_response(self, status: int, body: Any,
                        headers: list[tuple[str, str]]) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No listeners."""


def _issue(services: ApiServices, request: _Request, request_id: str | None,
           client_address: str | None) -> JSONResponse:
    # Committed even when the client is refused: the key's denial event must survive.
    with session_scope(services.sessions, commit_on=(AuthError,)) as session:
        return _Server(session, services, request_id,
                       client_address).create_token_response(request)


@router.post("/token")
async def token(request: Request, services: ServicesDep) -> JSONResponse:
    limit_anonymous(request, services)
    form = {key: value for key, value in (await request.form()).items()
            if isinstance(value, str)}
    try:
        oauth_request = _Request(request.method, str(request.url), request.headers, form)
    except OAuth2Error as error:  # plain http outside loopback (authlib's transport check)
        status, body, headers = error()
        return JSONResponse(body, status_code=status, headers=dict(headers))
    return await run_in_threadpool(_issue, services, oauth_request, request.state.request_id,
                                   request.client.host if request.client else None)
