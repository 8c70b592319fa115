"""Misuse reports: filed by anyone, worked through by compliance officers.

    open --resolve (outcome + note)--> resolved

A report names the video by asset id or carries it; an uploaded video is verified first and
kept as evidence, and the asset id its watermark (or manifest) names is used. When the asset
is in the registry the report links to the artifact, so the officer sees the partner,
subject and consent behind it; while the report is open, retention keeps the video's bytes.
Filing and resolving are audit events; the reporter's contact detail stays out of the audit
payload (personal data is kept in one erasable place).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.models import (
    Artifact,
    MisuseReport,
    ReportCategory,
    ReportOutcome,
    ReportStatus,
    Role,
)
from service.db.types import utcnow
from service.domain.registry import check_asset_id
from service.errors import NotFound, RequestInvalid, StateConflict

MAX_DESCRIPTION_CHARS = 5000
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class ReportedVideo:
    """An uploaded video as stored and verified."""

    storage_key: str
    sha256: str
    verdict_code: str
    asset_id: str | None


def file_report(session: Session, context: AuditContext, *, category: ReportCategory,
                description: str, contact: str | None, asset_id: str | None,
                video: ReportedVideo | None, now: datetime | None = None) -> MisuseReport:
    now = now or utcnow()
    description = description.strip()
    if not 0 < len(description) <= MAX_DESCRIPTION_CHARS:
        raise RequestInvalid(f"describe the misuse in 1-{MAX_DESCRIPTION_CHARS} characters",
                             field="description")
    if asset_id is None and video is None:
        raise RequestInvalid("name the video by its asset id or upload it", field="asset_id")
    named = check_asset_id(asset_id) if asset_id is not None else None
    resolved = named or (video.asset_id if video is not None else None)
    # Locked: the artifact retention sweep keeps a video with an open report, and this makes
    # it see the report or finish first (``service.jobs.retention``).
    artifact_id = None if resolved is None else session.scalar(
        select(Artifact.id).where(Artifact.asset_id == resolved).with_for_update())
    report = MisuseReport(
        category=category, description=description, contact=(contact or "").strip() or None,
        reporter=context.actor, asset_id=resolved, artifact_id=artifact_id,
        video_storage_key=video.storage_key if video else None,
        video_sha256=video.sha256 if video else None,
        verdict_code=video.verdict_code if video else None, created_at=now)
    session.add(report)
    session.flush()
    record(session, context, "public:report:file", f"misuse_report:{report.id}", now=now,
           payload={"category": category.value, "asset_id": resolved,
                    "artifact_id": None if artifact_id is None else str(artifact_id),
                    "video_sha256": report.video_sha256, "verdict_code": report.verdict_code})
    return report


def list_reports(session: Session, *, status: ReportStatus | None, limit: int,
                 after: uuid.UUID | None = None) -> list[MisuseReport]:
    """Oldest first (ids are UUIDv7): the queue in the order reports came in."""
    query = select(MisuseReport).order_by(MisuseReport.id).limit(limit)
    if status is not None:
        query = query.where(MisuseReport.status == status)
    if after is not None:
        query = query.where(MisuseReport.id > after)
    return list(session.scalars(query))


def get_report(session: Session, report_id: uuid.UUID, *, lock: bool = False) -> MisuseReport:
    query = select(MisuseReport).where(MisuseReport.id == report_id)
    report = session.scalar(query.with_for_update() if lock else query)
    if report is None:
        raise NotFound(f"no misuse report {report_id}", resource="misuse_report",
                       id=str(report_id))
    return report


def resolve_report(session: Session, context: AuditContext, *, report_id: uuid.UUID,
                   officer_id: uuid.UUID, outcome: ReportOutcome, note: str,
                   now: datetime | None = None) -> MisuseReport:
    now = now or utcnow()
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    note = note.strip()
    if not 0 < len(note) <= MAX_NOTE_CHARS:
        raise RequestInvalid(f"give a note of 1-{MAX_NOTE_CHARS} characters", field="note")
    report = get_report(session, report_id, lock=True)
    if report.status != ReportStatus.OPEN:
        raise StateConflict(f"report {report_id} is already {report.status.value}",
                            status=report.status.value)
    report.status, report.outcome, report.resolution_note = ReportStatus.RESOLVED, outcome, note
    report.resolved_by_id, report.resolved_at = officer_id, now
    session.flush()
    record(session, context, "compliance:report:resolve", f"misuse_report:{report.id}", now=now,
           payload={"officer_id": str(officer_id), "outcome": outcome.value, "note": note})
    return report
