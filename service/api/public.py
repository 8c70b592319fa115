"""What the public endpoints (``/v1/verify``, ``/v1/reports``) share: callers who may or may
not be authenticated, and uploaded videos checked by the release path's verifier.

A request with credentials is authenticated as anywhere else (a bad credential is 401, never
silently treated as anonymous) and counts against its key's or user's limit. A request
without any counts against its IP address's ``verify-ip`` bucket, lower than the general
anonymous limit: each check decodes up to ten seconds of video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import Depends, Header, Request, Response, UploadFile

from service import keys
from service.api.auth import Principal, StaffPrincipal
from service.api.deps import ServicesDep, client_address, get_principal
from service.db.audit import AuditContext
from service.db.models import Role
from service.errors import UploadEmpty, UploadTooLarge
from service.release.verify import VerificationReport, verify_video
from service.settings import Settings

ANONYMOUS = "anonymous"
DISCLOSURE_ROLES = frozenset({Role.VERIFIER, Role.COMPLIANCE_OFFICER})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Caller:
    principal: Principal | None  # None: no credential presented
    request_id: str | None
    client_address: str | None = None

    @property
    def audit(self) -> AuditContext:
        actor = ANONYMOUS if self.principal is None else self.principal.actor
        return AuditContext(actor=actor, request_id=self.request_id,
                            client_address=self.client_address)

    @property
    def may_see_identities(self) -> bool:
        """Verifiers and compliance officers see who made a video and who is in it."""
        return isinstance(self.principal, StaffPrincipal) \
            and bool(self.principal.roles & DISCLOSURE_ROLES)


def get_caller(request: Request, response: Response, services: ServicesDep,
               authorization: Annotated[str | None, Header()] = None,
               x_api_key: Annotated[str | None, Header()] = None) -> Caller:
    if authorization or x_api_key:
        principal = get_principal(request, response, services, authorization, x_api_key)
        return Caller(principal, request.state.request_id, _address(request))
    decision = services.limiter.hit(f"verify-ip:{client_address(request)}",
                                    services.settings.rate_limit_verify_anonymous_per_minute)
    response.headers["X-RateLimit-Limit"] = str(decision.limit)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    request.state.actor = ANONYMOUS
    return Caller(None, request.state.request_id, _address(request))


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


CallerDep = Annotated[Caller, Depends(get_caller)]


def spool_upload(upload: UploadFile, max_bytes: int, directory: Path) -> Path:
    """The uploaded part copied to a file in ``directory``, refused past ``max_bytes``."""
    path = directory / "upload"
    written = 0
    with path.open("wb") as out:
        for block in iter(lambda: upload.file.read(_CHUNK), b""):
            written += len(block)
            if written > max_bytes:
                raise UploadTooLarge(f"the video is larger than {max_bytes} bytes",
                                     max_bytes=max_bytes)
            out.write(block)
    if written == 0:
        raise UploadEmpty("the uploaded video is empty")
    return path


def upload_name(upload: UploadFile) -> str | None:
    """The client's file name without any directory part (shown back, never used as a path)."""
    name = PurePosixPath((upload.filename or "").replace("\\", "/")).name
    return name[:255] or None


def verify_file(settings: Settings, path: Path) -> VerificationReport:
    """The release path's verification with the operator's watermark key and trust anchors.

    ``KeysMissing`` (503) if no watermark key is configured: a verify endpoint that cannot
    look for the mark would answer "no mark" for every stripped copy, a misleading verdict.
    """
    return verify_video(path, keys.watermark_key(settings), keys.trust_anchors(settings))
