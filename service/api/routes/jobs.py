"""The jobs resource: submit, read, list, cancel, and download the released video.

- ``POST /v1/jobs`` (scope ``jobs:create``): the subject, purpose, two uploaded assets, the
  transcript of the audio (``transcript``, ``language`` default ``en``) and the controls as
  JSON - or multipart with the files inline (``portrait``, ``audio``, validated like
  ``POST /v1/assets``; ``controls`` as JSON text) - and an optional ``Idempotency-Key``
  header (the request hash covers each input's SHA-256, so an inline retry replays too). The
  subject and assets must be the caller's own (organisation and environment; else 404). Then
  the monthly quota (429 ``quota_exceeded`` with ``Retry-After``), the consent gate (403
  ``consent_refused``, ``details.reason`` = ``consent_pending``, ``face_mismatch``...), and the
  job row + outbox entry + audit event in one transaction. The task is sent after the commit.
  Answer: 202 with the job and ``Location`` - state ``queued``, or ``awaiting_review`` when the
  transcript's language is one the aligner cannot check (an officer reviews it; see
  ``service.api.routes.transcript_reviews``). A retry with the same key and the same request is
  answered the same way - 202, the same job (as it is now) - plus ``Idempotent-Replayed: true``;
  the same key with a different request is 409 ``idempotency_key_reused``.
- ``GET /v1/jobs/{id}``, ``GET /v1/jobs`` (newest first, ``cursor`` + ``limit``, ``state``
  filter) and ``GET /v1/jobs/{id}/video`` (the signed MP4 once succeeded, else 409
  ``job_not_finished``; 410 ``artifact_purged`` once retention deleted it - the job shows
  ``artifact_purged_at`` and the registry record stays) need ``jobs:read``;
  ``POST /v1/jobs/{id}/cancel`` needs ``jobs:create`` (a finished job: 409
  ``state_conflict``). Another partner's job is 404.

A refusal by the consent gate is committed (its audit event must survive) before the 403.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Header,
    Query,
    Request,
    Response,
    status,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile  # what request.form() holds

from service.api.deps import (
    ApiServices,
    ServicesDep,
    SessionDep,
    audit_context,
    owner_of,
    require_scopes,
)
from service.api.downloads import blob_download
from service.api.job_schemas import JobCreate, JobFields, JobList, JobPublic
from service.api.job_services import JobServices, JobServicesDep
from service.audit.events import record_download
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.db.engine import session_scope
from service.db.models import JobState
from service.db.types import utcnow
from service.domain.uploads import validate_audio, validate_portrait
from service.errors import ConsentRefused, RequestInvalid, UploadTooLarge
from service.jobs import JobSubmission, cancel_job
from service.jobs.accept import AcceptPolicy, JobRequest, accept_job
from service.jobs.queries import artifact_of, get_job, list_jobs, video_of
from service.jobs.quota import quota_limit

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

Creator = Annotated[ApiPrincipal, Depends(require_scopes(Scope.JOBS_CREATE))]
Reader = Annotated[ApiPrincipal, Depends(require_scopes(Scope.JOBS_READ))]
REPLAYED_HEADER = "Idempotent-Replayed"
# The body is read by hand (JSON or multipart), so its two shapes are documented here.
CREATE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": JobCreate.model_json_schema(
        ref_template="#/components/schemas/{model}")},
    "multipart/form-data": {"schema": {
        "type": "object",
        "required": ["subject_id", "purpose", "transcript", "portrait", "audio"],
        "properties": {"subject_id": {"type": "string", "format": "uuid"},
                       "purpose": {"type": "string"},
                       "transcript": {"type": "string"},
                       "language": {"type": "string", "default": "en"},
                       "controls": {"type": "string", "description": "a JSON object"},
                       "portrait": {"type": "string", "format": "binary"},
                       "audio": {"type": "string", "format": "binary"}}}}}}}


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
             openapi_extra=CREATE_BODY)
async def create_job(
    request: Request, response: Response, background: BackgroundTasks, services: ServicesDep,
    jobs: JobServicesDep, partner: Creator,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JobPublic:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        job_request = await _read_form(request, services, idempotency_key)
    else:
        job_request = _read_json(await request.body(), idempotency_key)
    view, submission = await run_in_threadpool(_accept, request, services, jobs, partner,
                                               job_request)
    if submission.outbox_entry_id is not None:  # committed: now it may be sent
        background.add_task(jobs.sender.send, [submission.outbox_entry_id])
    response.headers["Location"] = view.links.self
    if submission.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return view


def _accept(request: Request, services: ApiServices, jobs: JobServices, partner: ApiPrincipal,
            job_request: JobRequest) -> tuple[JobPublic, JobSubmission]:
    owner, settings = owner_of(partner), services.settings
    policy = AcceptPolicy(jobs.gate, quota_limit(settings, owner.is_test),
                          settings.face_match_threshold, services.face_box)
    with session_scope(services.sessions, commit_on=(ConsentRefused,)) as session:
        submission = accept_job(session, audit_context(request, partner), services.store,
                                owner=owner, api_key_id=partner.api_key_id,
                                request=job_request, policy=policy, now=utcnow())
        # A job written by this request has no artifact yet; only a replay may have one.
        artifact = artifact_of(session, submission.job) if submission.replayed else None
        return JobPublic.of(submission.job, artifact), submission


def _read_json(raw: bytes, key: str | None) -> JobRequest:
    try:
        body = JobCreate.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    return JobRequest(body.subject_id, body.purpose, body.portrait_asset_id,
                      body.audio_asset_id, body.controls, key, body.transcript, body.language)


async def _read_form(request: Request, services: ApiServices, key: str | None) -> JobRequest:
    """Fields ``subject_id``, ``purpose``, ``transcript``, ``language``, ``controls`` (a JSON
    object as text) and the files ``portrait`` and ``audio``, validated like
    ``POST /v1/assets`` uploads."""
    limits = services.limits
    async with request.form(max_files=2, max_fields=5) as form:
        parts = [form.get(name) for name in ("portrait", "audio")]
        if not all(isinstance(part, UploadFile) for part in parts):
            raise RequestInvalid("a multipart job needs the files 'portrait' and 'audio'",
                                 field="portrait" if not isinstance(parts[0], UploadFile)
                                 else "audio")
        portrait = await _read_part(parts[0], limits.portrait_bytes)
        audio = await _read_part(parts[1], limits.audio_bytes)
        fields = _form_fields(form, form.get("controls"))
    # Face detection and decoding are CPU work: off the event loop.
    return JobRequest(fields.subject_id, fields.purpose,
                      await run_in_threadpool(validate_portrait, portrait, limits),
                      await run_in_threadpool(validate_audio, audio, limits),
                      fields.controls, key, fields.transcript, fields.language)


async def _read_part(part: UploadFile, max_bytes: int) -> bytes:
    data = await part.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"the file is larger than {max_bytes} bytes", max_bytes=max_bytes,
                             field=part.filename)
    return data


def _form_fields(form: Any, controls: object) -> JobFields:
    try:
        parsed = json.loads(controls) if isinstance(controls, str) else {}
    except json.JSONDecodeError:
        raise RequestInvalid("controls must be a JSON object", field="controls") from None
    named = {name: form.get(name) for name in ("subject_id", "purpose", "transcript", "language")
             if form.get(name) is not None}
    try:
        return JobFields.model_validate(named | {"controls": parsed})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@router.get("", response_model=JobList)
def list_own_jobs(session: SessionDep, partner: Reader,
                  state: Annotated[JobState | None, Query()] = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20,
                  cursor: Annotated[str | None, Query(max_length=64)] = None) -> JobList:
    items = list_jobs(session, owner_of(partner), limit=limit, state=state,
                      before=_cursor(cursor))
    return JobList(items=[JobPublic.of(job, artifact_of(session, job)) for job in items],
                   next_cursor=str(items[-1].id) if len(items) == limit else None)


@router.get("/{job_id}", response_model=JobPublic)
def read_job(job_id: uuid.UUID, session: SessionDep, partner: Reader) -> JobPublic:
    job = get_job(session, owner_of(partner), job_id)
    return JobPublic.of(job, artifact_of(session, job))


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel(job_id: uuid.UUID, request: Request, session: SessionDep,
           partner: Creator) -> JobPublic:
    owner = owner_of(partner)
    get_job(session, owner, job_id)  # the environment too, not only the organisation
    job = cancel_job(session, audit_context(request, partner), job_id,
                     organisation_id=owner.organisation_id)
    return JobPublic.of(job, None)


@router.get("/{job_id}/video")
def download_video(job_id: uuid.UUID, request: Request, session: SessionDep,
                   services: ServicesDep, partner: Reader) -> StreamingResponse:
    """The released MP4 exactly as signed (any re-encode would break its C2PA manifest)."""
    _, artifact, key = video_of(session, owner_of(partner), job_id)
    blob = services.store.open(key)
    record_download(session, audit_context(request, partner), "partner:artifact:download",
                    f"artifact:{artifact.asset_id}", job_id=str(job_id), sha256=artifact.sha256)
    return blob_download(blob, "video/mp4", filename=f"{job_id}.mp4",
                         headers={"X-Likeness-Asset-Id": artifact.asset_id,
                                  "ETag": f'"{artifact.sha256}"'})



def _cursor(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise RequestInvalid("cursor must be a next_cursor value from a previous page",
                             field="cursor") from None
