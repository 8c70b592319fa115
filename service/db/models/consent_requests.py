"""Consent requests: a challenge the subject answers on camera, the evidence, its checks, and
the face template the capture leaves behind.

    open --capture / partner upload--> verifying --worker--> granted | review | rejected

A request carries the scope the partner asks for (purposes, expiry, max jobs), the script with
its one-time random phrase (valid ``challenge_expires_at``, used once: ``challenge_used_at``),
the prompt schedule the capture page reveals when recording starts, and the capture link's
SHA-256 (the link itself is shown once). ``verifying`` is also the verification's outbox: a
request in it with no ``verify_sent_at`` (or sent long ago) is sent to the workers again.
Each check of the evidence is a ``consent_check_results`` row (name, score, pass, reason).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Double, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base
from service.db.types import JSONType, new_id, str_enum, utcnow


class ConsentRequestStatus(enum.StrEnum):
    OPEN = "open"  # the challenge is issued; waiting for the recording
    VERIFYING = "verifying"  # evidence stored; a worker runs the checks
    GRANTED = "granted"  # the checks passed: consent approved automatically
    REVIEW = "review"  # borderline (or a partner's upload): a pending consent for an officer
    REJECTED = "rejected"  # the checks failed: reasons for the partner


class EvidenceSource(enum.StrEnum):
    CAPTURE = "capture"  # recorded on the service's capture page
    PARTNER_UPLOAD = "partner_upload"  # a finished clip: never granted without an officer


class ConsentRequest(Base):
    __tablename__ = "consent_requests"
    __table_args__ = (Index("ix_consent_requests_status_verify_sent_at", "status",
                            "verify_sent_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    is_test: Mapped[bool] = mapped_column(default=False)
    status: Mapped[ConsentRequestStatus] = mapped_column(
        str_enum(ConsentRequestStatus, "consent_request_status"),
        default=ConsentRequestStatus.OPEN)
    # The scope asked for; the consent gets it if the checks pass.
    purposes: Mapped[list[str]]
    consent_expires_at: Mapped[datetime]
    max_jobs: Mapped[int | None]
    # What the subject reads, and the challenge behind it (words, issue time, versions).
    script: Mapped[str] = mapped_column(Text)
    challenge: Mapped[dict[str, Any]]
    challenge_expires_at: Mapped[datetime]
    challenge_used_at: Mapped[datetime | None]
    # The prompts and their moments (seconds after recording starts); revealed at start.
    prompt_schedule: Mapped[dict[str, Any]]
    # SHA-256 (hex) of the capture link's token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    capture_started_at: Mapped[datetime | None]
    evidence_source: Mapped[EvidenceSource | None] = mapped_column(
        str_enum(EvidenceSource, "evidence_source"))
    evidence_asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assets.id"))
    # When the page showed each prompt, as it reported (seconds after recording start).
    prompt_timeline: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The verification's outbox: sent to a worker when, how often, the last send error.
    verify_sent_at: Mapped[datetime | None]
    verify_attempts: Mapped[int] = mapped_column(default=0)
    verify_last_error: Mapped[str | None] = mapped_column(Text)
    # The outcome: the checks' own decision (pass/review/fail), the decision taken (a partner
    # upload is never granted: its pass becomes review), the reasons ([{code, message}]),
    # versions, the evidence's hash.
    assessed_decision: Mapped[str | None] = mapped_column(String(16))
    decision: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[dict[str, str]] | None] = mapped_column(JSONType)
    versions: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]


class ConsentCheckResult(Base):
    """One evidence check's outcome (spoken script, face match, liveness, prompts, ...)."""

    __tablename__ = "consent_check_results"
    __table_args__ = (UniqueConstraint("request_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consent_requests.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Double)
    threshold: Mapped[float | None] = mapped_column(Double)
    passed: Mapped[bool]
    # The check's own three-way verdict (pass/review/fail), for the officer.
    verdict: Mapped[str] = mapped_column(String(16))
    # Why it did not pass, as a stable code ("wrong_words"...), and for people: what was
    # measured or what to do about it.
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FaceTemplate(Base):
    """A subject's face as captured live: the 128-D encoding, AES-256-GCM sealed
    (``service.domain.face_templates``). Job portraits are matched against it, not against the
    partner's portraits. Lives as long as its consent; ``ciphertext`` is cleared on erasure."""

    __tablename__ = "face_templates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    consent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id"), index=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consent_requests.id"))
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]
