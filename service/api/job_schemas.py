"""The jobs resource as JSON: ``JobCreate`` (what a partner submits) and ``JobPublic`` (what it
reads back), built from the rows, never the rows themselves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.db.models import Artifact, Job, JobState
from service.domain.transcripts import DEFAULT_LANGUAGE, MAX_TRANSCRIPT_CHARS
from service.jobs.submit import MAX_PURPOSE_CHARS


class JobFields(BaseModel):
    """What every submission names: the subject, the purpose their consent must cover and the
    generation controls. The multipart form sends these beside the two files."""

    model_config = ConfigDict(extra="forbid")

    subject_id: uuid.UUID
    purpose: str = Field(min_length=1, max_length=MAX_PURPOSE_CHARS)
    # seed, steps, emotion, gaze, distance, head pose...: checked strictly by the job code
    # (``service.jobs.controls``), so an unknown or mistyped control is a 422 naming it.
    controls: dict[str, Any] = Field(default_factory=dict)
    # What the audio says, word for word, and its language (BCP 47). The worker checks the
    # audio against it before rendering (``transcript_mismatch``); a language the aligner
    # cannot check holds the job ``awaiting_review`` for a compliance officer.
    transcript: str = Field(min_length=1, max_length=MAX_TRANSCRIPT_CHARS)
    language: str = Field(default=DEFAULT_LANGUAGE, min_length=2, max_length=35)


class JobCreate(JobFields):
    """``POST /v1/jobs`` as JSON: the two inputs uploaded first through ``POST /v1/assets``."""

    portrait_asset_id: uuid.UUID
    audio_asset_id: uuid.UUID


class JobError(BaseModel):
    code: str
    message: str | None


class TranscriptPublic(BaseModel):
    text: str | None  # None once the subject was erased (the hash stays)
    language: str | None
    sha256: str | None
    # pending | matched | mismatch | review_required | officer_approved | officer_rejected
    check: str | None
    score: float | None


class JobTimings(BaseModel):
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queued_seconds: float | None  # created -> started (the latest attempt)
    running_seconds: float | None  # started -> finished


class JobLinks(BaseModel):
    self: str
    cancel: str
    video: str | None  # once the job has succeeded, until its video is deleted


class JobPublic(BaseModel):
    id: uuid.UUID
    state: JobState
    progress: float  # 0..1, reported by the worker between frames
    subject_id: uuid.UUID
    consent_id: uuid.UUID  # the consent the job relies on
    purpose: str
    portrait_asset_id: uuid.UUID
    audio_asset_id: uuid.UUID
    controls: dict[str, Any]  # every control, defaults filled in
    transcript: TranscriptPublic
    is_test: bool
    attempts: int
    timings: JobTimings
    error: JobError | None
    # The released video's watermark / C2PA asset id (14 hex digits) once it has succeeded.
    artifact_asset_id: str | None
    # When the service deleted the video's bytes (artifact retention, or the subject's
    # erasure); the registry record stays, so copies still verify. None while it is held.
    artifact_purged_at: datetime | None
    links: JobLinks

    @classmethod
    def of(cls, job: Job, artifact: Artifact | None) -> JobPublic:
        base = f"/v1/jobs/{job.id}"
        return cls(
            id=job.id, state=job.state, progress=job.progress, subject_id=job.subject_id,
            consent_id=job.consent_id, purpose=job.purpose,
            portrait_asset_id=job.portrait_asset_id, audio_asset_id=job.audio_asset_id,
            controls=dict(job.controls),
            transcript=TranscriptPublic(text=job.transcript, language=job.transcript_language,
                                        sha256=job.transcript_sha256,
                                        check=job.transcript_check,
                                        score=job.transcript_score),
            is_test=job.is_test, attempts=job.attempts,
            timings=JobTimings(
                created_at=job.created_at, started_at=job.started_at,
                finished_at=job.finished_at,
                queued_seconds=_seconds(job.created_at, job.started_at),
                running_seconds=_seconds(job.started_at, job.finished_at)),
            error=None if job.error_code is None else JobError(code=job.error_code,
                                                               message=job.error_message),
            artifact_asset_id=None if artifact is None else artifact.asset_id,
            artifact_purged_at=None if artifact is None else artifact.purged_at,
            links=JobLinks(self=base, cancel=f"{base}/cancel",
                           video=f"{base}/video" if artifact is not None
                           and artifact.purged_at is None else None))


class JobList(BaseModel):
    items: list[JobPublic]  # newest first
    next_cursor: str | None  # pass as ``cursor`` for the next (older) page; None: last page


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)
