"""Signed bearer tokens (JWT, HS256, ``typ: at+jwt``) for the partner API.

Two kinds, told apart by the ``kind`` claim:

- ``partner``: issued by the OAuth2 client-credentials endpoint (``routes/oauth.py``) to an API
  key; carries the organisation, the key id, the granted scopes and test/live. Short-lived
  (``oauth_token_ttl_seconds``, 15 min by default). Each use re-checks the key and its
  organisation, so revoking a key or suspending the organisation takes effect at once.
- ``staff``: a compliance officer, verifier or operator (``sub = user:<uuid>``), issued by the
  operator tooling (``issue_staff_token``) until single sign-on is wired. Roles are read from
  the database on every request, never from the token.

The signing secret comes from ``LIKENESS_OAUTH_SIGNING_KEY`` (hex) or ``data_dir/
oauth-signing-key`` (created 0600 on first use). Rotating it ends every token at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from service.auth.pepper import parse_pepper
from service.auth.scopes import Scope
from service.db.models import KeyEnvironment
from service.errors import TokenExpired, TokenInvalid
from service.secret_files import create_secret_file_once
from service.settings import Settings

ALGORITHM = "HS256"
AUDIENCE = "likeness-api"
PARTNER, STAFF = "partner", "staff"


@dataclass(frozen=True)
class TokenClaims:
    """A verified token. Partner tokens set the key fields; staff tokens set ``user_id``."""

    kind: str
    subject: str
    expires_at: int  # Unix seconds
    key_id: str | None = None
    organisation_id: uuid.UUID | None = None
    environment: KeyEnvironment | None = None
    scopes: frozenset[Scope] = frozenset()
    user_id: uuid.UUID | None = None


def load_signing_key(settings: Settings) -> OctKey:
    if settings.oauth_signing_key is not None:
        raw = parse_pepper(settings.oauth_signing_key.get_secret_value(),
                           "LIKENESS_OAUTH_SIGNING_KEY")
    else:
        path = settings.oauth_signing_key_file
        if not path.exists():
            create_secret_file_once(path, secrets.token_hex(32) + "\n")
        raw = parse_pepper(path.read_text(), str(path))
    return OctKey.import_key(raw)


def partner_claims(*, organisation_id: uuid.UUID, environment: KeyEnvironment) -> dict[str, str]:
    """The claims a partner token adds to the RFC 9068 ones (iss, sub, aud, exp, scope...)."""
    return {"kind": PARTNER, "org": str(organisation_id), "env": environment.value}


def issue_staff_token(key: OctKey, *, user_id: uuid.UUID, issuer: str, ttl_seconds: int,
                      now: datetime) -> str:
    issued = int(now.timestamp())
    claims = {"iss": issuer, "aud": AUDIENCE, "sub": f"user:{user_id}", "kind": STAFF,
              "iat": issued, "exp": issued + ttl_seconds, "jti": secrets.token_urlsafe(16)}
    return jwt.encode({"alg": ALGORITHM, "typ": "at+jwt"}, claims, key, algorithms=[ALGORITHM])


def verify_token(key: OctKey, token: str, *, issuer: str, now: datetime) -> TokenClaims:
    """The claims of a token this service signed; ``TokenInvalid`` / ``TokenExpired`` else."""
    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()), iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": AUDIENCE}, exp={"essential": True},
            sub={"essential": True}, kind={"essential": True, "values": [PARTNER, STAFF]})
        registry.validate(decoded.claims)
    except ExpiredTokenError:
        raise TokenExpired("the bearer token has expired; request a new one at "
                           "/v1/oauth/token") from None
    except (JoseError, ValueError) as exc:
        raise TokenInvalid(f"the bearer token is not valid: {exc}") from None
    if decoded.header.get("typ") != "at+jwt":
        raise TokenInvalid("the bearer token is not an access token (typ at+jwt)")
    try:
        return _typed(decoded.claims)
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid(f"the bearer token's claims are malformed: {exc}") from None


def _typed(claims: dict[str, object]) -> TokenClaims:
    subject, expires = str(claims["sub"]), int(claims["exp"])  # type: ignore[call-overload]
    if claims["kind"] == STAFF:
        if not subject.startswith("user:"):
            raise ValueError("a staff token's subject is user:<uuid>")
        return TokenClaims(STAFF, subject, expires, user_id=uuid.UUID(subject[5:]))
    scopes = str(claims.get("scope") or "").split()
    return TokenClaims(PARTNER, subject, expires, key_id=str(claims["client_id"]),
                       organisation_id=uuid.UUID(str(claims["org"])),
                       environment=KeyEnvironment(str(claims["env"])),
                       scopes=frozenset(Scope(s) for s in scopes))
