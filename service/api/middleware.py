"""Request context for every call: a request id, a size cap on the body, one JSON log line.

- The id is the caller's ``X-Request-Id`` when it is a sane token (1-128 of ``[A-Za-z0-9._:-]``),
  else a fresh one; it is echoed in the response header, put in error bodies and audit events,
  and exposed to log records through ``request_id_var``.
- A body whose ``Content-Length`` exceeds ``max_request_bytes`` is refused with 413 before any
  of it is read; a body without a length is counted as it streams and cut off at the cap.
- One ``likeness.api.access`` log line per request, a JSON object: request id, method, path,
  status, duration, client address and the authenticated actor (set by the auth dependency).

A plain ASGI middleware (not ``BaseHTTPMiddleware``): it neither buffers bodies nor breaks
context variables.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.errors import UploadTooLarge

access_log = logging.getLogger("likeness.api.access")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "likeness_request_id", default=None)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def choose_request_id(presented: str | None) -> str:
    if presented and _REQUEST_ID.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_request_bytes: int) -> None:
        self.app, self.max_request_bytes = app, max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        request_id = choose_request_id(headers.get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started, status = time.perf_counter(), [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode("ascii")))
            await send(message)

        try:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_request_bytes:
                response = error_response(Request(scope), 413, UploadTooLarge.code,
                                          f"the request body is {length} bytes; the limit is "
                                          f"{self.max_request_bytes}",
                                          {"max_bytes": self.max_request_bytes})
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, self._capped(receive), send_with_id)
        finally:
            self._log(scope, request_id, status[0], time.perf_counter() - started)
            request_id_var.reset(token)

    def _capped(self, receive: Receive) -> Receive:
        seen = [0]

        async def capped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_request_bytes:
                    raise UploadTooLarge(f"the request body passed {self.max_request_bytes} "
                                         "bytes", max_bytes=self.max_request_bytes)
            return message

        return capped

    @staticmethod
    def _log(scope: Scope, request_id: str, status: int, seconds: float) -> None:
        state: dict[str, Any] = scope.get("state", {})
        client = scope.get("client")
        access_log.info(json.dumps({
            "event": "http_request", "request_id": request_id, "method": scope.get("method"),
            # A route whose path carries a secret (a subject's page token) sets ``log_path``.
            "path": state.get("log_path", scope.get("path")), "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "client": client[0] if client else None, "actor": state.get("actor"),
        }, separators=(",", ":")))
