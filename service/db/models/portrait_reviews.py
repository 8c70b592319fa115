"""A compliance officer's review of one job portrait against a subject's live capture.

    pending --officer--> accepted | rejected          pending | accepted --revocation--> voided

The consent gate files a review when a job portrait lands in the capture match's officer band
(``policy.consent.capture_match``: closer than another person, not close enough to pass
alone). One row per (subject, portrait asset, consent): the consent that covered the request
when it was filed, so a newer consent - a new capture - needs its own review. The row keeps
what the officer decides on (the distance and the band, for officers only; the photo's
SHA-256) and the decision: who, when, and the written reason.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Double, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import new_id, str_enum, utcnow


class PortraitReviewStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for a compliance officer
    ACCEPTED = "accepted"  # the gate treats this portrait as the subject under this consent
    REJECTED = "rejected"  # the gate refuses it as face_match_rejected
    VOIDED = "voided"  # its consent was revoked (or the subject erased): it counts for nothing


class PortraitReview(Base):
    __tablename__ = "portrait_reviews"
    __table_args__ = (
        UniqueConstraint("subject_id", "portrait_asset_id", "consent_id"),
        Index("ix_portrait_reviews_status_id", "status", "id"),  # the officers' queue
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The partner whose job portrait it is (the portrait's organisation).
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consents.id"), index=True)
    portrait_asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id"), index=True)
    portrait_sha256: Mapped[str] = mapped_column(String(64))  # the photo's bytes, for the record
    distance: Mapped[float] = mapped_column(Double)  # to the nearest live-capture template
    pass_max: Mapped[float] = mapped_column(Double)  # the band: above this ...
    refuse_from: Mapped[float] = mapped_column(Double)  # ... and below this
    status: Mapped[PortraitReviewStatus] = mapped_column(
        str_enum(PortraitReviewStatus, "portrait_review_status"),
        default=PortraitReviewStatus.PENDING)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    officer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)  # the officer's, shown to the partner
    voided_at: Mapped[datetime | None]
