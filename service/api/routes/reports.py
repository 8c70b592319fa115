"""Misuse reports. ``POST /v1/reports``: anyone (a credential is optional) reports a video by
asset id or by uploading it, with a category, a description and optionally a contact.
Compliance officers work the queue: ``GET /v1/reports``, ``GET /v1/reports/{id}`` (and its
``/video``), ``POST /v1/reports/{id}/resolve``."""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from service.api.deps import OfficerDep, ServicesDep, SessionDep, audit_context
from service.api.downloads import blob_download
from service.api.public import CallerDep, spool_upload, verify_file
from service.audit.events import record_download
from service.db.models import MisuseReport, ReportCategory, ReportOutcome, ReportStatus
from service.domain.reports import (
    ReportedVideo,
    file_report,
    get_report,
    list_reports,
    resolve_report,
)
from service.errors import NotFound

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class ReportReceipt(BaseModel):
    """What the reporter gets back: enough to refer to the report, nothing about others."""

    id: uuid.UUID
    status: ReportStatus
    asset_id: str | None
    issued_by_this_service: bool  # the asset id is in the provenance registry
    created_at: datetime


class ReportPublic(BaseModel):
    id: uuid.UUID
    category: ReportCategory
    description: str
    contact: str | None
    reporter: str
    asset_id: str | None
    artifact_id: uuid.UUID | None
    has_video: bool
    video_sha256: str | None
    verdict_code: str | None
    status: ReportStatus
    outcome: ReportOutcome | None
    resolution_note: str | None
    resolved_by_id: uuid.UUID | None
    resolved_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, report: MisuseReport) -> ReportPublic:
        return cls(id=report.id, category=report.category, description=report.description,
                   contact=report.contact, reporter=report.reporter, asset_id=report.asset_id,
                   artifact_id=report.artifact_id,
                   has_video=report.video_storage_key is not None,
                   video_sha256=report.video_sha256, verdict_code=report.verdict_code,
                   status=report.status, outcome=report.outcome,
                   resolution_note=report.resolution_note,
                   resolved_by_id=report.resolved_by_id, resolved_at=report.resolved_at,
                   created_at=report.created_at)


class ReportList(BaseModel):
    items: list[ReportPublic]
    next_after: uuid.UUID | None


class ResolveRequest(BaseModel):
    outcome: ReportOutcome
    note: str = Field(min_length=1, max_length=2000)


@router.post("", status_code=201, response_model=ReportReceipt)
def report_misuse(
    session: SessionDep, services: ServicesDep, caller: CallerDep,
    category: Annotated[ReportCategory, Form()],
    description: Annotated[str, Form(max_length=5000)],
    contact: Annotated[str | None, Form(max_length=320)] = None,
    asset_id: Annotated[str | None, Form(max_length=64)] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> ReportReceipt:
    video = None if file is None else _store_video(services, file)
    report = file_report(session, caller.audit, category=category, description=description,
                         contact=contact, asset_id=asset_id or None, video=video)
    return ReportReceipt(id=report.id, status=report.status, asset_id=report.asset_id,
                         issued_by_this_service=report.artifact_id is not None,
                         created_at=report.created_at)


def _store_video(services: ServicesDep, file: UploadFile) -> ReportedVideo:
    """Verify the upload (for the asset id it names) and keep it as evidence."""
    with tempfile.TemporaryDirectory(prefix="likeness-report-") as directory:
        path = spool_upload(file, services.settings.max_verify_bytes, Path(directory))
        report = verify_file(services.settings, path)  # refuses what is not a video
        stored = services.store.put_file(path)
    return ReportedVideo(stored.key, stored.sha256, report.verdict_code, report.asset_id)


@router.get("", response_model=ReportList)
def list_for_review(session: SessionDep, officer: OfficerDep,
                    status: Annotated[ReportStatus | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    after: Annotated[uuid.UUID | None, Query()] = None) -> ReportList:
    items = list_reports(session, status=status, limit=limit, after=after)
    return ReportList(items=[ReportPublic.of(r) for r in items],
                      next_after=items[-1].id if len(items) == limit else None)


@router.get("/{report_id}", response_model=ReportPublic)
def read_report(report_id: uuid.UUID, session: SessionDep, officer: OfficerDep) -> ReportPublic:
    return ReportPublic.of(get_report(session, report_id))


@router.get("/{report_id}/video")
def read_video(report_id: uuid.UUID, request: Request, session: SessionDep,
               services: ServicesDep, officer: OfficerDep) -> StreamingResponse:
    report = get_report(session, report_id)
    if report.video_storage_key is None:
        raise NotFound(f"report {report_id} has no video", resource="report_video",
                       id=str(report_id))
    blob = services.store.open(report.video_storage_key)
    record_download(session, audit_context(request, officer),
                    "compliance:report_video:download", f"misuse_report:{report_id}",
                    sha256=report.video_sha256)
    return blob_download(blob, "application/octet-stream")



@router.post("/{report_id}/resolve", response_model=ReportPublic)
def resolve(report_id: uuid.UUID, body: ResolveRequest, request: Request, session: SessionDep,
            officer: OfficerDep) -> ReportPublic:
    return ReportPublic.of(resolve_report(session, audit_context(request, officer),
                                          report_id=report_id, officer_id=officer.user_id,
                                          outcome=body.outcome, note=body.note))
