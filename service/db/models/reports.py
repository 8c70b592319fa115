"""Misuse reports: anyone may report a video they suspect was made or used without consent;
compliance officers work through the queue and resolve each report with an outcome.

A report names the video by its watermark asset id, or carries the video itself (kept as a
content-addressed blob for the officer, with what verification found in it). ``artifact_id``
links the report to the registry row when the asset id is one this service issued.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import new_id, str_enum, utcnow


class ReportCategory(enum.StrEnum):
    NO_CONSENT = "no_consent"  # the person depicted did not agree to this
    IMPERSONATION = "impersonation"  # passed off as the real person speaking
    FRAUD = "fraud"  # scams, fake endorsements, payment requests
    HARASSMENT = "harassment"  # sexual, abusive or degrading content
    MINOR = "minor"  # depicts a child
    MISINFORMATION = "misinformation"  # political or news deception
    OTHER = "other"


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ReportOutcome(enum.StrEnum):
    ACTIONED = "actioned"  # consent revoked, organisation suspended, content taken down...
    NO_ACTION = "no_action"  # checked; nothing wrong found
    NOT_OURS = "not_ours"  # the video was not made by this service
    DUPLICATE = "duplicate"  # already handled under another report


class MisuseReport(Base):
    __tablename__ = "misuse_reports"
    __table_args__ = (Index("ix_misuse_reports_status_created_at", "status", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    category: Mapped[ReportCategory] = mapped_column(str_enum(ReportCategory, "report_category"))
    description: Mapped[str] = mapped_column(Text)
    # How to reach the reporter (optional: reports may be anonymous).
    contact: Mapped[str | None] = mapped_column(String(320))
    # "anonymous", "user:<uuid>" or "api_key:<key id>".
    reporter: Mapped[str] = mapped_column(String(200))
    # The watermark asset id given, or found in the uploaded video.
    asset_id: Mapped[str | None] = mapped_column(String(14), index=True)
    artifact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artifacts.id"), index=True)
    # The uploaded video, if any, and what verification said about it. Indexed: every deletion
    # of bytes asks whether a report holds them (``service.domain.blob_holders``).
    video_storage_key: Mapped[str | None] = mapped_column(String(500), index=True)
    video_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    verdict_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[ReportStatus] = mapped_column(str_enum(ReportStatus, "report_status"),
                                                 default=ReportStatus.OPEN)
    outcome: Mapped[ReportOutcome | None] = mapped_column(
        str_enum(ReportOutcome, "report_outcome"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
