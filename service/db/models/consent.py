"""The people depicted (subjects) and their consent to a partner's use of their likeness.

A consent is requested by a partner organisation for a subject, reviewed by a compliance
officer (approved or rejected with a reason) and may be revoked later. Its scope is a list of
purposes and an optional expiry; the consent gate (``policy/consent/gate.py``) checks every job against it.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base
from service.db.types import new_id, str_enum, utcnow


class ConsentStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class ConsentBasis(enum.StrEnum):
    """On what grounds a consent stands (``service.domain.consent_decisions``)."""

    OFFICER_REVIEW = "officer_review"  # evidence the partner supplied, decided by an officer
    VERIFIED_CAPTURE = "verified_capture"  # the subject's live capture passed the checks
    NONLIVING = "nonliving"  # no living person who can consent: an officer's justified grant


class NonlivingCategory(enum.StrEnum):
    PAINTING = "painting"
    SYNTHETIC_FACE = "synthetic_face"
    HISTORICAL_PHOTO = "historical_photo"  # a historical, public-domain photograph


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("organisation_id", "external_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The partner that registered the subject.
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # The partner's own reference for the person (contract number...), unique per partner.
    external_ref: Mapped[str | None] = mapped_column(String(200))
    # Registered with a test key (sandbox): visible to test keys only.
    is_test: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by erasure (``service.domain.erasure``): the name and reference are scrubbed, the
    # biometric data and media deleted; the row stays as the pseudonymous id the audit trail,
    # jobs and the registry cite.
    erased_at: Mapped[datetime | None]


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    # The partner the consent is granted to.
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[ConsentStatus] = mapped_column(str_enum(ConsentStatus, "consent_status"),
                                                  default=ConsentStatus.PENDING)
    purposes: Mapped[list[str]]
    expires_at: Mapped[datetime | None]
    # Recorded evidence (a signed form, a consent video) as a stored asset.
    evidence_asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assets.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    # How many jobs the consent allows (None: no limit); the gate counts the jobs it covers.
    max_jobs: Mapped[int | None]
    basis: Mapped[ConsentBasis] = mapped_column(str_enum(ConsentBasis, "consent_basis"),
                                                default=ConsentBasis.OFFICER_REVIEW)
    # The non-living path: which kind of subject, and the officer's written justification.
    nonliving_category: Mapped[NonlivingCategory | None] = mapped_column(
        str_enum(NonlivingCategory, "nonliving_category"))
    justification: Mapped[str | None] = mapped_column(Text)

    subject: Mapped[Subject] = relationship()
