"""Reading jobs as their owner sees them: one job, a page of jobs, a job's video, the job an
idempotency key names.

A partner sees only its own jobs, and only in the environment of its key (a test key sees the
sandbox's jobs, a live key the live ones); anything else is ``NotFound``, exactly like a job
that does not exist, so ids cannot be probed. Pages run newest first by id (UUIDv7, so id order
is creation order); the cursor is the last id of the previous page.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Artifact, Job, JobState
from service.domain.assets import Owner
from service.errors import ArtifactPurged, JobNotFinished, NotFound
from service.storage import blob_key


def get_job(session: Session, owner: Owner, job_id: uuid.UUID) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.organisation_id != owner.organisation_id \
            or job.is_test != owner.is_test:
        raise NotFound(f"no job {job_id}", resource="job", id=str(job_id))
    return job


def list_jobs(session: Session, owner: Owner, *, limit: int, state: JobState | None = None,
              before: uuid.UUID | None = None) -> list[Job]:
    """Up to ``limit`` of the owner's jobs, newest first, older than ``before`` if given."""
    query = (select(Job).where(Job.organisation_id == owner.organisation_id,
                               Job.is_test.is_(owner.is_test))
             .order_by(Job.id.desc()).limit(limit))
    if state is not None:
        query = query.where(Job.state == state)
    if before is not None:
        query = query.where(Job.id < before)
    return list(session.scalars(query))


def job_for_key(session: Session, organisation_id: uuid.UUID, key: str | None) -> Job | None:
    """The organisation's job first submitted under ``key`` (a retry replays or conflicts)."""
    if key is None:
        return None
    return session.scalar(select(Job).where(Job.organisation_id == organisation_id,
                                            Job.idempotency_key == key))


def artifact_of(session: Session, job: Job) -> Artifact | None:
    return session.scalar(select(Artifact).where(Artifact.job_id == job.id))


def video_of(session: Session, owner: Owner, job_id: uuid.UUID) -> tuple[Job, Artifact, str]:
    """The owner's succeeded job, its artifact and the blob key of its signed MP4;
    ``JobNotFinished`` while it is not (yet) a succeeded job, ``ArtifactPurged`` once its
    bytes were deleted (retention or erasure: the registry record stays)."""
    job = get_job(session, owner, job_id)
    artifact = artifact_of(session, job) if job.state == JobState.SUCCEEDED else None
    if artifact is None:
        raise JobNotFinished(f"job {job_id} is {job.state.value}; its video exists once it "
                             "has succeeded", state=job.state.value, job_id=str(job_id))
    if artifact.purged_at is not None:
        raise ArtifactPurged(
            f"the video of job {job_id} was deleted on {artifact.purged_at.date().isoformat()}; "
            "its record in the provenance registry remains, so copies of it still verify",
            job_id=str(job_id), asset_id=artifact.asset_id, purged_at=artifact.purged_at)
    return job, artifact, blob_key(artifact.sha256)
