"""The one place errors become HTTP responses.

Every error the stack raises for a caller's mistake carries a stable ``code``
(``ModelError``, ``PolicyError``, ``ServiceError``); here each error class maps to a status,
and the body is always::

    {"error": {"code": "...", "message": "...", "details": {...}, "request_id": "..."}}

``details`` is the error's keyword context (measured values, limits, the offending field).
Statuses are looked up along the class's MRO, so a new leaf inherits its branch's status.
Unexpected errors become 500 ``internal_error`` with the request id and nothing else; the
traceback goes to the log.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.errors import AudioError, CodedError, ControlError, PortraitError
from policy.errors import (
    AuditCheckpointInvalid,
    AuditProofInvalid,
    AuditTreeRangeInvalid,
    ConsentError,
    EvidenceError,
    FaceMismatch,
)
from service.errors import (
    ArtifactPurged,
    AuditLogError,
    AuthError,
    ChallengeExpired,
    ConsentRefused,
    DatabaseNotReady,
    DependencyUnavailable,
    JobNotFinished,
    KeysMissing,
    NotFound,
    OrganisationNotVetted,
    OrganisationSuspended,
    PortraitReviewDecided,
    PortraitReviewLapsed,
    QuotaExceeded,
    RateLimited,
    ReferencePortraitGone,
    RequestInvalid,
    RoleMissing,
    ScopeMissing,
    SealedValueUnreadable,
    SealingKeyMismatch,
    StateConflict,
    TranscriptError,
    UploadEmpty,
    UploadError,
    UploadTooLarge,
    UploadTypeUnsupported,
    VideoUnreadable,
)

log = logging.getLogger("likeness.api")

STATUS: dict[type[Exception], int] = {
    AuthError: 401,
    ScopeMissing: 403, RoleMissing: 403, OrganisationNotVetted: 403, OrganisationSuspended: 403,
    NotFound: 404,
    StateConflict: 409,
    RequestInvalid: 422,
    UploadError: 422, UploadEmpty: 400, UploadTooLarge: 413, UploadTypeUnsupported: 415,
    RateLimited: 429,
    DependencyUnavailable: 503, DatabaseNotReady: 503,
    PortraitError: 422, AudioError: 422, ControlError: 422,
    ConsentError: 403, FaceMismatch: 422,
    # Jobs: the gate's refusal (``details.reason``), a video asked for too early, the monthly
    # quota (Retry-After: the month's end), a video retention deleted (gone for good; the
    # registry record stays). IdempotencyKeyReused is a StateConflict: 409.
    ConsentRefused: 403, JobNotFinished: 409, QuotaExceeded: 429, ArtifactPurged: 410,
    # Verification and misuse reports: an upload that is not a decodable video; the operator
    # has not configured the watermark key (or trust anchors) this deployment verifies with.
    VideoUnreadable: 422, KeysMissing: 503,
    # Consent requests: a challenge whose time is up is gone for good (ask for a new request).
    ChallengeExpired: 410, EvidenceError: 422,
    # Transcripts: the audio does not say what the job declares, or an officer must read it.
    TranscriptError: 422,
    # Portrait reviews: decided once; one whose consent no longer stands, or whose portrait
    # encoding is gone or changed, cannot be accepted any more.
    PortraitReviewDecided: 409, PortraitReviewLapsed: 409,
    # Re-encoding a reference: its photo is gone for good (a new subject needs a fresh one);
    # stored bytes that are not the photo uploaded are a StateConflict (409).
    ReferencePortraitGone: 410,
    # The audit log: a proof asked for outside the tree; a stored log that no longer proves
    # itself (tampered or rolled back: ``likeness audit verify`` names the entry).
    AuditTreeRangeInvalid: 422, AuditProofInvalid: 409, AuditCheckpointInvalid: 409,
    AuditLogError: 409,
    # Sealed values (face encodings, webhook secrets): rows that do not open while the keys
    # open their neighbours (the answer names them; logged for operators), or keys that open
    # none of them - the deployment's key is wrong or missing (generic message, logged).
    SealedValueUnreadable: 409, SealingKeyMismatch: 503,
}

def status_for(error: Exception) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(request: Request, status: int, code: str, message: str,
                   details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable(details or {}),
                      "request_id": request_id_of(request)}}
    return JSONResponse(body, status_code=status, headers=headers)


def jsonable(value: Any) -> Any:
    """Error context as JSON: numpy scalars, enums, UUIDs, times, tuples and sets included."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (UUID, datetime)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


async def _coded(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CodedError)  # registered for it
    status = status_for(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="likeness"'
    retry_after = error.context.get("retry_after")
    if status in (429, 503) and retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    if status >= 500:
        log.error("error %s on request %s: %s", error.code, request_id_of(request), error)
        return error_response(request, status, error.code, "the service could not complete "
                              "the request", headers=headers)
    return error_response(request, status, error.code, error.message, error.context, headers)


async def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [{"field": ".".join(str(p) for p in item.get("loc", ()) if p != "body"),
                 "message": item.get("msg", "")} for item in error.errors()]
    fields = ", ".join(p["field"] for p in problems) or "the request"
    return error_response(request, 422, RequestInvalid.code, f"invalid or missing: {fields}",
                          {"problems": problems})


async def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 400: "request_invalid"}
    return error_response(request, error.status_code, codes.get(error.status_code, "http_error"),
                          str(error.detail), headers=dict(error.headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CodedError, _coded)  # ModelError, PolicyError, ServiceError
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
