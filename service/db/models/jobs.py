"""Inputs, generation jobs, the transactional outbox and the provenance registry.

A job row and its outbox entry are written in one transaction; a relay sends outbox entries to
the queue only after commit, so a worker never sees a job that was rolled back and no committed
job is lost. Workers hold a job through a lease (owner + expiry) so a crashed worker's job can
be taken over. Each released video gets an artifact row keyed by its watermark payload id
(``asset_id``, 14 hex digits): the registry a verifier looks a detected watermark up in.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base
from service.db.types import new_id, str_enum, utcnow


class AssetKind(enum.StrEnum):
    PORTRAIT = "portrait"
    AUDIO = "audio"
    # Consent evidence: a signed form (PDF or image) or a recorded statement (audio or video).
    CONSENT_DOCUMENT = "consent_document"
    CONSENT_RECORDING = "consent_recording"


class JobState(enum.StrEnum):
    # Held for a compliance officer before it may queue: its transcript's language is one the
    # aligner cannot check (``service.domain.transcripts``).
    AWAITING_REVIEW = "awaiting_review"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    kind: Mapped[AssetKind] = mapped_column(str_enum(AssetKind, "asset_kind"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    # Content-addressed: identical bytes uploaded twice (or by two partners) share one blob.
    storage_key: Mapped[str] = mapped_column(String(500), index=True)
    # Portraits only: the 128-D identity embedding, sealed with AES-256-GCM to this row and
    # organisation (``TemplateBox.seal_portrait``; 545 bytes, never the 512 plaintext bytes).
    face_encoding: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A subject's reference portrait (set at registration): what the consent gate matches
    # later portraits against. A portrait merely uploaded for the subject never becomes one.
    is_reference: Mapped[bool] = mapped_column(default=False)
    # Audio and recorded statements: the decoded duration.
    duration_seconds: Mapped[float | None]
    # Uploaded with a test key (sandbox): visible to test keys only.
    is_test: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when retention deleted the bytes (the row stays: jobs and the audit trail cite it).
    purged_at: Mapped[datetime | None]


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("organisation_id", "idempotency_key"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        Index("ix_jobs_state_lease_expires_at", "state", "lease_expires_at"),
        # The monthly quota counts one organisation's jobs in one environment since the month
        # began: this bounds that count to the month (and serves "its jobs" lookups too).
        Index("ix_jobs_organisation_quota", "organisation_id", "is_test", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consents.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(100))
    portrait_asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id"))
    audio_asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id"))
    # The validated generation controls (emotion, gaze, head pose...) as the API accepted them.
    controls: Mapped[dict[str, Any]]
    # What the subject is made to say, as the partner declared it (NULL only for jobs from
    # before transcripts were required, or once the subject was erased: the hash stays), its
    # language (BCP 47, "en") and the SHA-256 of its normalised UTF-8 text, and
    # how the audio was checked against it: pending -> matched | mismatch, or review_required
    # -> officer_approved | officer_rejected (see ``service.domain.transcripts``).
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_language: Mapped[str | None] = mapped_column(String(16))
    transcript_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    transcript_check: Mapped[str | None] = mapped_column(String(32))
    # The aligner's score (matched words / declared words); who reviewed a held transcript is
    # in the audit trail (``officer:transcript:approve`` / ``reject``).
    transcript_score: Mapped[float | None]
    is_test: Mapped[bool] = mapped_column(default=False)
    state: Mapped[JobState] = mapped_column(str_enum(JobState, "job_state"),
                                            default=JobState.QUEUED)
    progress: Mapped[float] = mapped_column(default=0.0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # A retried request with the same key and body returns the first job; another body is a
    # conflict. The hash is SHA-256 of the canonical request.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    # One-to-one through ``artifacts.job_id`` (a column here too would make a foreign-key cycle).
    artifact: Mapped[Artifact | None] = relationship(back_populates="job")


class OutboxEntry(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_sent_at_created_at", "sent_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"),
                                              index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The watermark payload's asset id (14 lowercase hex digits), also in the C2PA manifest.
    asset_id: Mapped[str] = mapped_column(String(14), unique=True)
    # NULL for videos released outside the service (the operator's CLI).
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"), unique=True)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"),
                                                              index=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    is_test: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the consent it was made under is revoked (``service.domain.revocation``): the
    # registry's flag, so a verifier is told "consent revoked on <date>" even once the consent
    # row itself is gone from view (an erased subject).
    consent_revoked_at: Mapped[datetime | None]
    # Set when the video's bytes were deleted (``service.jobs.retention``, or the subject's
    # erasure). The row stays: it is the registry's record, so a copy held elsewhere still
    # verifies; only the service's own copy is gone.
    purged_at: Mapped[datetime | None]

    job: Mapped[Job | None] = relationship(back_populates="artifact")
