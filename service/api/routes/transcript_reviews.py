"""The compliance officer's queue of transcripts the aligner cannot check.

A job whose transcript is in a language without an aligner model is held ``awaiting_review``
(``service.domain.transcripts``). Officers only (partners 403):

- ``GET /v1/transcript-reviews``: held jobs, oldest first (``after`` + ``limit``), each with
  its partner, purpose, transcript and language;
- ``GET /v1/transcript-reviews/{job_id}/audio``: the job's speech, to listen against the text
  (a download: an audit event);
- ``POST /v1/transcript-reviews/{job_id}/approve``: the job queues (its task is sent after the
  commit) and the worker renders it without aligning it again;
- ``POST /v1/transcript-reviews/{job_id}/reject`` ``{"reason": ...}``: the job fails
  ``transcript_rejected`` with the reason for the partner.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from service.api.deps import OfficerDep, ServicesDep, SessionDep, audit_context
from service.api.downloads import blob_download
from service.api.job_services import JobServicesDep
from service.api.schemas import ReasonRequest
from service.db.audit import record
from service.db.models import Asset, Job, Organisation
from service.domain.transcripts import (
    approve_transcript,
    held_job,
    held_jobs,
    reject_transcript,
)
from service.errors import NotFound

router = APIRouter(prefix="/v1/transcript-reviews", tags=["transcript reviews"])


class HeldJob(BaseModel):
    job_id: uuid.UUID
    state: str
    organisation_id: uuid.UUID
    partner: str | None
    subject_id: uuid.UUID
    consent_id: uuid.UUID
    purpose: str
    transcript: str | None
    language: str | None
    transcript_sha256: str | None
    transcript_check: str | None
    audio_asset_id: uuid.UUID
    created_at: datetime

    @classmethod
    def of(cls, session: SessionDep, job: Job) -> HeldJob:
        partner = session.get(Organisation, job.organisation_id)
        return cls(job_id=job.id, state=job.state.value, organisation_id=job.organisation_id,
                   partner=None if partner is None else partner.name,
                   subject_id=job.subject_id, consent_id=job.consent_id, purpose=job.purpose,
                   transcript=job.transcript, language=job.transcript_language,
                   transcript_sha256=job.transcript_sha256,
                   transcript_check=job.transcript_check, audio_asset_id=job.audio_asset_id,
                   created_at=job.created_at)


class HeldJobList(BaseModel):
    items: list[HeldJob]
    next_after: uuid.UUID | None


@router.get("", response_model=HeldJobList)
def list_held(session: SessionDep, officer: OfficerDep,
              limit: Annotated[int, Query(ge=1, le=200)] = 50,
              after: Annotated[uuid.UUID | None, Query()] = None) -> HeldJobList:
    jobs = held_jobs(session, limit=limit, after=after)
    return HeldJobList(items=[HeldJob.of(session, job) for job in jobs],
                       next_after=jobs[-1].id if len(jobs) == limit else None)


@router.get("/{job_id}/audio")
def read_audio(job_id: uuid.UUID, request: Request, session: SessionDep,
               services: ServicesDep, officer: OfficerDep) -> StreamingResponse:
    job = held_job(session, job_id)
    audio = session.get(Asset, job.audio_asset_id)
    if audio is None or audio.purged_at is not None:
        raise NotFound(f"the audio of job {job_id} is no longer stored", resource="audio",
                       id=str(job_id))
    blob = services.store.open(audio.storage_key)
    record(session, audit_context(request, officer), "compliance:transcript:listen",
           f"job:{job.id}", payload={"audio_sha256": audio.sha256})
    return blob_download(blob, audio.media_type)



@router.post("/{job_id}/approve", response_model=HeldJob)
def approve(job_id: uuid.UUID, request: Request, session: SessionDep, officer: OfficerDep,
            jobs: JobServicesDep, background: BackgroundTasks) -> HeldJob:
    job, entry_id = approve_transcript(session, audit_context(request, officer), job_id=job_id,
                                       officer_id=officer.user_id)
    # The session commits before the response is sent; the task goes out after that.
    background.add_task(jobs.relay.send_now, [entry_id])
    return HeldJob.of(session, job)


@router.post("/{job_id}/reject", response_model=HeldJob)
def reject(job_id: uuid.UUID, body: ReasonRequest, request: Request, session: SessionDep,
           officer: OfficerDep) -> HeldJob:
    job = reject_transcript(session, audit_context(request, officer), job_id=job_id,
                            officer_id=officer.user_id, reason=body.reason)
    return HeldJob.of(session, job)
