"""The capture page the partner sends the subject to: ``/capture/{token}``.

The link's token is the only credential (no account): it names one consent request, and only
its SHA-256 is stored. The page (plain HTML + JS from ``service/web``, no build step, nothing
from a CDN) shows the script, records camera and microphone in the browser, and:

- ``POST /capture/{token}/start`` when recording starts: the prompt schedule is revealed only
  now (a clip made beforehand cannot know it) and the upload window opens;
- ``POST /capture/{token}/recording`` (multipart ``recording`` + ``timeline``: when the page
  showed each prompt, seconds after recording started): stored, the challenge used, the
  request ``verifying``; the verification is queued by the same commit and sent after it;
- ``GET /capture/{token}/status``: what the page polls until the decision. Once the
  verification granted the consent, the first poll issues the subject's private page link
  (``/s/<token>``) and returns it - shown once, to the person holding the capture link, who
  is the subject; later polls do not repeat it.

An unknown link is 404 ``capture_link_invalid``, expired code words 410 ``challenge_expired``,
a second recording 409 ``challenge_used``: as JSON for the calls, as a short page for the
browser. Each refused use is an audit event. Calls are rate-limited per client address.
"""

from __future__ import annotations

import html
import json
from datetime import timedelta
from pathlib import Path
from string import Template
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Request, UploadFile, status
from fastapi.responses import FileResponse, HTMLResponse

from service.api.consent_request_schemas import CapturePrompt, CaptureStart, CaptureStatus
from service.api.deps import ApiServices, ServicesDep, client_address
from service.api.routes.assets import read_upload
from service.api.routes.consent_requests import RelayDep
from service.db.audit import AuditContext
from service.db.engine import session_scope
from service.db.models import ConsentRequest, EvidenceSource
from service.db.types import utcnow
from service.domain.challenges import page_prompts, parse_timeline, statement_of
from service.domain.consent_requests import (
    REFUSALS,
    accept_recording,
    check_open,
    request_for_token,
    start_capture,
    subject_name,
    upload_deadline,
)
from service.domain.recordings import RecordingLimits, validate_recording
from service.domain.subject_links import deliver_subject_link
from service.errors import CaptureLinkInvalid, NotFound, ServiceError

router = APIRouter(prefix="/capture", tags=["capture"])

WEB = Path(__file__).resolve().parents[2] / "web"
ASSETS = {"capture.js": "text/javascript", "capture.css": "text/css"}
MAX_TIMELINE_CHARS = 20_000
# The page may not be framed, load nothing from elsewhere, nor leak its URL (the token).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; media-src 'self' blob: mediastream:; "
                               "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'none'",
    "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self)",
}


def _limit(request: Request, services: ApiServices) -> None:
    """Hide the token from the access log, then count the call against the address."""
    token = request.path_params.get("token", "")
    request.state.log_path = request.url.path.replace(token, "<token>") if token \
        else request.url.path
    services.limiter.hit(f"capture:{client_address(request)}",
                         services.settings.rate_limit_per_minute)


def _context(request: Request, consent_request: ConsentRequest | None = None) -> AuditContext:
    actor = f"capture_link:{consent_request.id}" if consent_request else "anonymous"
    return AuditContext(actor=actor, request_id=request.state.request_id)


@router.get("/assets/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound(f"no capture asset {name!r}", resource="asset")
    return FileResponse(WEB / "static" / name, media_type=ASSETS[name],
                        headers={"Cache-Control": "public, max-age=300",
                                 "X-Content-Type-Options": "nosniff"})


@router.get("/{token}", response_class=HTMLResponse, include_in_schema=False)
def page(token: str, request: Request, services: ServicesDep) -> HTMLResponse:
    _limit(request, services)
    try:
        with session_scope(services.sessions) as session:
            consent_request = request_for_token(session, token)
            check_open(consent_request, utcnow())
            body = _render_page(consent_request, subject_name(session, consent_request), token)
    except (CaptureLinkInvalid, *REFUSALS) as exc:
        return _message_page(exc)
    return HTMLResponse(body, headers=PAGE_HEADERS)


@router.post("/{token}/start", response_model=CaptureStart)
def start(token: str, request: Request, services: ServicesDep) -> CaptureStart:
    _limit(request, services)
    with session_scope(services.sessions, commit_on=REFUSALS) as session:
        consent_request = request_for_token(session, token)
        consent_request = start_capture(session, _context(request, consent_request), token)
        deadline = upload_deadline(consent_request)
        prompts = page_prompts(consent_request.prompt_schedule, consent_request.challenge)
        duration = float(consent_request.prompt_schedule["duration_seconds"])
    assert deadline is not None  # started just now, or before
    return CaptureStart(prompts=[CapturePrompt(id=p.id, text=p.text, at_seconds=p.at_seconds,
                                               show_seconds=p.show_seconds) for p in prompts],
                        duration_seconds=duration, upload_by=deadline)


@router.post("/{token}/recording", status_code=status.HTTP_202_ACCEPTED,
             response_model=CaptureStatus)
def upload(token: str, request: Request, background: BackgroundTasks, services: ServicesDep,
           relay: RelayDep, recording: Annotated[UploadFile, File()],
           timeline: Annotated[str, Form(max_length=MAX_TIMELINE_CHARS)]) -> CaptureStatus:
    _limit(request, services)
    limits = RecordingLimits.from_settings(services.settings)
    with session_scope(services.sessions) as session:  # an unknown link reads nothing more
        request_for_token(session, token)
    clip = validate_recording(read_upload(recording, limits.max_bytes), limits)
    reported = parse_timeline(timeline)
    with session_scope(services.sessions, commit_on=REFUSALS) as session:
        consent_request = request_for_token(session, token, lock=True)
        accept_recording(session, _context(request, consent_request), services.store,
                         request=consent_request, recording=clip,
                         source=EvidenceSource.CAPTURE, timeline=reported)
        answer = CaptureStatus(request_id=consent_request.id, status=consent_request.status,
                               decision=consent_request.decision)
    background.add_task(relay.send_now, [answer.request_id])
    return answer


@router.get("/{token}/status", response_model=CaptureStatus)
def read_status(token: str, request: Request, services: ServicesDep) -> CaptureStatus:
    _limit(request, services)
    with session_scope(services.sessions) as session:
        consent_request = request_for_token(session, token)
        link = deliver_subject_link(session, consent_request,
                                    base_url=str(request.base_url))
        return CaptureStatus(request_id=consent_request.id, status=consent_request.status,
                             decision=consent_request.decision, subject_link=link)


def _render_page(consent_request: ConsentRequest, name: str, token: str) -> str:
    config = {"start_url": f"/capture/{token}/start",
              "upload_url": f"/capture/{token}/recording",
              "status_url": f"/capture/{token}/status"}
    expires = consent_request.challenge_expires_at
    # JSON inside <script type="application/json">: "<" escaped so nothing can close the tag.
    config_json = json.dumps(config).replace("<", "\\u003c")
    template = Template((WEB / "templates" / "capture.html").read_text(encoding="utf-8"))
    return template.substitute(
        subject=html.escape(name),
        script=html.escape(statement_of(consent_request.challenge)),
        expires_iso=html.escape(expires.isoformat()),
        expires_text=html.escape(f"{expires:%H:%M} UTC on {expires:%d %B %Y}"),
        minutes=int(max(0, (expires - utcnow()) / timedelta(minutes=1))),
        config=config_json)


def _message_page(error: ServiceError) -> HTMLResponse:
    statuses = {"capture_link_invalid": 404, "challenge_expired": 410}
    template = Template((WEB / "templates" / "message.html").read_text(encoding="utf-8"))
    body = template.substitute(code=html.escape(error.code), message=html.escape(error.message))
    return HTMLResponse(body, status_code=statuses.get(error.code, 409), headers=PAGE_HEADERS)
