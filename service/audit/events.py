"""Audit events recorded at the edges (authentication, downloads, verification, signing).

Domain services record their own state changes (``service.db.audit.record`` beside the change).
The events here describe what happens *around* them - a refused credential, a file handed
out, a video checked or signed - and are shared by the API, the workers and the CLI so each
call site stays one line. Tags (``source:subject:action``):

- ``auth:api_key:authenticate`` / ``auth:token:authenticate`` (denied): a credential refused
  that ``service.auth.api_keys`` did not already record (unknown or malformed key, bad, expired
  or orphaned bearer token); only while the caller's address is within its anonymous rate
  limit, so a flood of junk credentials cannot flood the log;
- ``auth:api_key:authorize`` / ``auth:user:authorize`` (denied): an authenticated caller
  without the scope or role the endpoint needs;
- ``auth:token:issue``: an OAuth access token or a staff token handed out;
- ``partner:artifact:download``, ``compliance:evidence:download``,
  ``compliance:report_video:download``: bytes handed out;
- ``public:artifact:verify`` (``POST /v1/verify``), ``release:artifact:verify`` (``likeness
  verify`` with a database): a file checked, with its verdict and hash;
- ``release:artifact:sign``: a video signed and released (asset id = watermark payload, C2PA
  manifest id, file and input hashes);
- ``ops:pki:init``: development keys created by ``likeness pki init`` (with a database).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from policy.audit import Outcome
from service.db.audit import AuditContext, record
from service.db.engine import session_scope
from service.errors import AuthError, DatabaseNotReady
from service.settings import Settings

UNKNOWN_CREDENTIAL = "unknown"


def record_refused_credential(sessions: sessionmaker[Session], context: AuditContext,
                              refused: AuthError, *, bearer: bool) -> None:
    """A refused credential, in its own committed transaction (the request fails after)."""
    key_id = refused.context.get("key_id")
    action = "auth:token:authenticate" if bearer else "auth:api_key:authenticate"
    resource = f"api_key:{key_id}" if key_id else \
        ("token:bearer" if bearer else f"api_key:{UNKNOWN_CREDENTIAL}")
    with session_scope(sessions) as session:
        record(session, context, action, resource[:200], outcome=Outcome.DENIED,
               payload={"code": refused.code})


def record_access_denied(sessions: sessionmaker[Session], context: AuditContext,
                         refused: AuthError, *, resource: str, path: str) -> None:
    """An authenticated caller refused for a missing scope or role (committed on its own)."""
    kind = "api_key" if context.actor.startswith("api_key:") else "user"
    details: dict[str, Any] = {"code": refused.code, "path": path[:200]}
    for name in ("missing", "role"):
        if name in refused.context:
            details[name] = refused.context[name]
    with session_scope(sessions) as session:
        record(session, context, f"auth:{kind}:authorize", resource, outcome=Outcome.DENIED,
               payload=details)


def record_download(session: Session, context: AuditContext, action: str, resource: str,
                    **details: Any) -> None:
    """Bytes handed out (``partner:artifact:download``...), in the request's transaction."""
    record(session, context, action, resource, payload=_plain(details))


def record_verification(session: Session, context: AuditContext, action: str, *,
                        document: Mapping[str, Any], registered: bool | None) -> None:
    """A file checked by the release path's verifier: verdict, hash, asset id."""
    resource, payload = verification_event(document, registered)
    record(session, context, action, resource, payload=payload)


def verification_event(document: Mapping[str, Any],
                       registered: bool | None) -> tuple[str, dict[str, Any]]:
    """(resource, payload) of a verification, from its ``likeness.verify/1`` document."""
    verdict, file = document.get("verdict", {}), document.get("file", {})
    asset_id, sha256 = verdict.get("asset_id"), file.get("sha256")
    resource = f"artifact:{asset_id}" if asset_id else f"file:{sha256}"
    return resource, {"verdict_code": verdict.get("code"), "asset_id": asset_id,
                      "sha256": sha256, "registered": registered}


def record_signed(session: Session, context: AuditContext, *, asset_id: str,
                  manifest_id: str | None, sha256: str, job_id: str | None,
                  inputs: Mapping[str, str | None]) -> None:
    """A released video: watermark asset id, C2PA manifest id and the hashes that bind them."""
    record(session, context, "release:artifact:sign", f"artifact:{asset_id}",
           payload={"asset_id": asset_id, "manifest_id": manifest_id, "sha256": sha256,
                    "job_id": job_id, **{f"{name}_sha256": value
                                         for name, value in inputs.items()}})


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value if value is None or isinstance(value, (str, int, float, bool))
            else str(value) for name, value in details.items()}


def database_configured(settings: Settings) -> bool:
    """Whether this installation has a database to audit into: a configured server, or the
    embedded SQLite file once something created it (a bare verifier's machine has none)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return True
    return bool(url.database) and Path(url.database).is_file()


def record_local(settings: Settings, context: AuditContext, action: str, resource: str,
                 payload: Mapping[str, Any]) -> bool:
    """An operator tool's event (``likeness verify``, ``pki init``) when there is a database;
    False when there is none. A database that is there but unusable is an error."""
    from service.db import make_engine
    from service.db.engine import make_session_factory

    if not database_configured(settings):
        return False
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            record(session, context, action, resource, payload=payload)
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseNotReady(f"cannot record {action} in the database at "
                               f"{engine.url.render_as_string()} (run `likeness db upgrade`): "
                               f"{exc.orig}", url=engine.url.render_as_string()) from exc
    finally:
        engine.dispose()
    return True
