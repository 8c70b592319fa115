"""The subject's private page: ``GET /s/{token}`` and ``POST /s/{token}/revoke``, no account.

- ``GET /s/{token}``: an HTML page (``service/web/subject/page.html``) listing every video made
  under the consent - date, partner, purpose, the transcript the subject was made to say,
  state, the released video's asset id - with a revoke form; ``?format=json`` (or
  ``Accept: application/json``) gives the same as JSON.
- ``POST /s/{token}/revoke``: form or JSON with ``confirm`` = ``REVOKE`` (and an optional
  ``reason``): the consent is revoked with every effect (``service.domain.revocation``) under
  the pseudonymous actor ``subject:<subject id>``. The form answers with a redirect back to
  the page (303); JSON with the page's JSON.

A malformed, unknown or disabled token is a plain 404 that does not say whether such a link
existed. Every request counts against its IP's ``subject-ip`` limit
(``Settings.rate_limit_subject_page_per_minute``), before the token is even looked at. The
token never reaches the access log (its path is logged as ``/s/<token>``), pages are not
cached, indexed or framed, and no referrer leaves them.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel

from service.api.deps import ServicesDep, SessionDep, client_address
from service.domain.revocation import RevokedBy, revoke
from service.domain.subject_links import (
    SubjectPage,
    open_subject_page,
    resolve_subject_link,
    subject_actor,
    subject_page,
)
from service.errors import RequestInvalid, SubjectLinkUnknown
from service.settings import Settings

router = APIRouter(prefix="/s", tags=["subject page"], include_in_schema=False)
TEMPLATE = Path(__file__).resolve().parents[2] / "web" / "subject" / "page.html"
CONFIRM_WORD = "REVOKE"
DEFAULT_REASON = "revoked by the subject on their private page"
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex, nofollow", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                      "form-action 'self'; frame-ancestors 'none'"}


def public_base(settings: Settings, request: Request) -> str:
    """Where links point: ``Settings.public_base_url``, else the base URL the request used."""
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


def limit_subject_ip(request: Request, services: ServicesDep) -> None:
    request.state.log_path = "/s/<token>" + ("/revoke" if request.url.path.endswith(
        "/revoke") else "")
    request.state.actor = "anonymous"
    services.limiter.hit(f"subject-ip:{client_address(request)}",
                         services.settings.rate_limit_subject_page_per_minute)


Limited = Depends(limit_subject_ip)


class RevokeBody(BaseModel):
    confirm: str = ""
    reason: str | None = None


@router.get("/{token}", dependencies=[Limited])
def read_page(token: str, request: Request, session: SessionDep,
              format: Annotated[str | None, Query(max_length=8)] = None) -> Response:
    as_json = _wants_json(request, format)
    try:
        page = open_subject_page(session, token)
    except SubjectLinkUnknown:
        if as_json:
            raise
        return HTMLResponse(_not_found(), status_code=404, headers=HEADERS)
    if as_json:
        return JSONResponse(page_json(page, token), headers=HEADERS)
    return HTMLResponse(render_page(page, token), headers=HEADERS)


@router.post("/{token}/revoke", dependencies=[Limited])
async def revoke_from_page(token: str, request: Request, services: ServicesDep) -> Response:
    from fastapi.concurrency import run_in_threadpool

    from service.db.engine import session_scope

    form = request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data"))
    body = await _revoke_body(request, form)
    if body.confirm.strip() != CONFIRM_WORD:
        raise RequestInvalid(f"type {CONFIRM_WORD} in the confirmation field to revoke",
                             field="confirm")

    def run() -> SubjectPage:
        with session_scope(services.sessions) as session:
            link = resolve_subject_link(session, token, lock=True)
            revoke(session, subject_actor(link.subject_id, request.state.request_id),
                   consent_id=link.consent_id, by=RevokedBy.SUBJECT,
                   reason=(body.reason or "").strip() or DEFAULT_REASON)
            return subject_page(session, link.consent_id)

    page = await run_in_threadpool(run)
    if form:
        return RedirectResponse(f"/s/{token}", status_code=303, headers=HEADERS)
    return JSONResponse(page_json(page, token), headers=HEADERS)


async def _revoke_body(request: Request, form: bool) -> RevokeBody:
    try:
        if form:
            async with request.form(max_files=0, max_fields=2) as fields:
                values = {k: v for k, v in fields.items() if isinstance(v, str)}
            return RevokeBody.model_validate(values)
        return RevokeBody.model_validate_json(await request.body() or b"{}")
    except ValueError:
        raise RequestInvalid(f"send the field 'confirm' (= {CONFIRM_WORD}) as a form or JSON",
                             field="confirm") from None


def _wants_json(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def page_json(page: SubjectPage, token: str) -> dict[str, Any]:
    return {
        "consent": {"id": str(page.consent_id), "partner": page.partner,
                    "purposes": list(page.purposes), "status": page.status,
                    "granted_at": _iso(page.granted_at), "expires_at": _iso(page.expires_at),
                    "revoked_at": _iso(page.revoked_at), "revocable": page.revocable},
        "videos": [{"job_id": None if v.job_id is None else str(v.job_id),
                    "created_at": _iso(v.created_at), "partner": v.partner,
                    "purpose": v.purpose, "transcript": v.transcript, "language": v.language,
                    "transcript_sha256": v.transcript_sha256, "state": v.state,
                    "asset_id": v.asset_id, "flagged_revoked": v.flagged_revoked}
                   for v in page.videos],
        "revoke": {"url": f"/s/{token}/revoke", "confirm": CONFIRM_WORD} if page.revocable
        else None,
    }


def render_page(page: SubjectPage, token: str) -> str:
    revoked = page.status != "approved"
    status = ("revoked on " + _day(page.revoked_at)) if page.revoked_at else page.status
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        partner=_e(page.partner), purposes=_e(", ".join(page.purposes)),
        granted_at=_e(_day(page.granted_at)), expires_at=_e(_day(page.expires_at) or "never"),
        status_class="revoked" if revoked else "", status_text=_e(status),
        video_count=len(page.videos), videos=_video_table(page),
        revoke=_revoke_form(token) if page.revocable else
        "<p>This consent no longer stands: no new video can be made under it, the ones above "
        "were stopped or are marked as revoked when anyone checks them.</p>")


def _video_table(page: SubjectPage) -> str:
    if not page.videos:
        return "<p>No video has been made under this consent.</p>"
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            _e(_day(v.created_at)), _e(v.partner), _e(v.purpose or "-"),
            _e(v.transcript or "(not kept)") + (f" <small>({_e(v.language)})</small>"
                                                 if v.language else ""),
            _e(v.state + (", marked revoked" if v.flagged_revoked else "")),
            f"<code>{_e(v.asset_id)}</code>" if v.asset_id else "-")
        for v in page.videos)
    return ("<table><thead><tr><th>Date</th><th>Partner</th><th>Purpose</th>"
            "<th>What you were made to say</th><th>Status</th><th>Video id</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _revoke_form(token: str) -> str:
    return (f'<form method="post" action="/s/{_e(token)}/revoke">'
            "<h2>Revoke your consent</h2><p>Revoking stops every video still being made, "
            "refuses new ones, and marks every video already made as revoked for anyone who "
            "checks it. It cannot be undone.</p>"
            f'<p><label>Type <strong>{CONFIRM_WORD}</strong> to confirm: '
            '<input name="confirm" required autocomplete="off"></label></p>'
            '<p><label>Why (optional): <input name="reason" maxlength="2000"></label></p>'
            "<button type=\"submit\">Revoke my consent</button></form>")


def _not_found() -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"robots\" content=\"noindex\"><title>Not found</title></head>"
            "<body><h1>No such page</h1></body></html>")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _day(value: datetime | None) -> str:
    return "" if value is None else value.date().isoformat()

