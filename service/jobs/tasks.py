"""The render task: one job through the release path, safe under at-least-once delivery.

``run_job`` is the whole task, callable without Celery; ``register_tasks`` wraps it as
``likeness.jobs.render`` on an app. Steps:

1. take the lease (``take_lease``): a job already succeeded, cancelled, failed or held by a
   live worker is skipped - a re-delivered task never renders twice;
2. under a ``LeaseKeeper`` (heartbeat + progress + cancellation between frames): ask the
   consent gate again, copy the inputs out of the blob store (checking their hashes), check
   the audio says the job's declared transcript (``service.jobs.render_checks``), run the
   release path - re-reading the job and its consent at every motion window, so a revocation
   stops it within one window - and refuse a file whose own verification does not find its
   mark and manifest;
3. store the video, then in one transaction: job -> succeeded (fenced on the lease token),
   the artifact row (unique per job: a second artifact for a job cannot exist) and the audit
   event.

Failures: bad input (``ModelError``), a refused consent, a transcript the audio does not say
(``transcript_mismatch``), a missing blob, a policy or release error fail the job with the
error's stable code and are not retried. Transient errors (the
database or broker connection) hand the job back to the queue and are retried by Celery with
backoff. Anything else fails the job as ``internal_error`` and is re-raised for the logs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, InterfaceError
from sqlalchemy.exc import OperationalError as DatabaseOperationalError

from model.errors import ModelError
from policy.audit import Outcome
from policy.errors import PolicyError
from service.audit.events import record_signed
from service.db.audit import record
from service.db.engine import session_scope
from service.db.models import Artifact, Job, JobState
from service.db.types import utcnow
from service.errors import (
    ConsentRefused,
    JobAborted,
    ReleaseUnverified,
    ServiceError,
    StorageError,
    TranscriptMismatch,
)
from service.jobs.controls import parse_controls
from service.jobs.gate import GateRequest, GateStage, check_consent
from service.jobs.leases import (
    AssetRef,
    JobTicket,
    LeaseKeeper,
    new_lease_owner,
    release_lease,
    take_lease,
)
from service.jobs.render_checks import between_windows, check_transcript
from service.storage import BlobStore, StoredBlob
from service.webhooks.events import enqueue_job_event

if TYPE_CHECKING:  # the release path imports torch: only a worker running a job loads it
    from service.jobs.runtime import WorkerRuntime
    from service.release import ReleasedVideo

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (DatabaseOperationalError, InterfaceError, KombuOperationalError,
                    ConnectionError, TimeoutError)
MAX_TASK_RETRIES = 5
MAX_ERROR_CHARS = 2000
INTERNAL_ERROR = "internal_error"
_CHUNK = 1 << 20
_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp",
             "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav",
             "audio/mpeg": ".mp3", "audio/flac": ".flac", "audio/ogg": ".ogg",
             "audio/mp4": ".m4a", "audio/aac": ".aac"}


@dataclass(frozen=True)
class RenderOutcome:
    job_id: str
    outcome: str  # "succeeded", "failed", "skipped", "aborted" (cancelled / lease lost)
    state: str | None  # the job's state as this task left it (None: no such job)
    asset_id: str | None = None
    error_code: str | None = None


def run_job(runtime: WorkerRuntime, job_id: uuid.UUID) -> RenderOutcome:
    """Render ``job_id`` if this worker can take its lease (see the module docstring)."""
    settings = runtime.settings
    with session_scope(runtime.sessions) as session:
        claim = take_lease(session, runtime.context, job_id, new_lease_owner(),
                           lease_seconds=settings.lease_seconds,
                           max_attempts=settings.job_max_attempts)
    if claim.ticket is None:
        state = claim.state.value if claim.state else None
        log.info("job %s not taken (state %s)", job_id, state)
        return RenderOutcome(str(job_id), "skipped", state)
    return _render(runtime, claim.ticket)


def _render(runtime: WorkerRuntime, ticket: JobTicket) -> RenderOutcome:
    from policy.provenance import TranscriptRecord
    from service.release import GenerationRequest

    work = Path(tempfile.mkdtemp(prefix="likeness-job-"))
    try:
        with LeaseKeeper(runtime.sessions, ticket, lease_seconds=runtime.settings.lease_seconds,
                         heartbeat_seconds=runtime.settings.heartbeat_seconds) as keeper:
            _recheck_consent(runtime, ticket)
            audio = _materialise(runtime.blobs, ticket.audio, work, "speech")
            check_transcript(runtime, ticket, audio)
            request = GenerationRequest(
                _materialise(runtime.blobs, ticket.portrait, work, "portrait"), audio,
                work / f"{ticket.job_id}.mp4", parse_controls(ticket.controls),
                None if ticket.transcript_sha256 is None else TranscriptRecord(
                    ticket.transcript_sha256, ticket.transcript_language or "en"))
            video = runtime.release.generate(
                request, progress=between_windows(runtime, ticket, keeper.report))
            _check_release(video)
        return _complete(runtime, ticket, video, runtime.blobs.put_file(video.path))
    except JobAborted as exc:
        log.info("job %s aborted: %s", ticket.job_id, exc)
        return RenderOutcome(str(ticket.job_id), "aborted", None,
                             error_code=exc.context.get("reason"))
    except ConsentRefused as exc:
        return _fail(runtime, ticket, exc.context.get("reason", exc.code), exc.message,
                     Outcome.DENIED)
    except TranscriptMismatch as exc:
        return _fail(runtime, ticket, exc.code, exc.message, Outcome.DENIED)
    except (ModelError, PolicyError, ServiceError) as exc:
        return _fail(runtime, ticket, exc.code, exc.message, Outcome.FAILURE)
    except TRANSIENT_ERRORS as exc:
        _hand_back(runtime, ticket, exc)
        raise
    except Exception as exc:
        _fail(runtime, ticket, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", Outcome.FAILURE)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _recheck_consent(runtime: WorkerRuntime, ticket: JobTicket) -> None:
    """Consent may have been revoked while the job waited: ask the gate again."""
    request = GateRequest(ticket.organisation_id, ticket.subject_id, ticket.purpose,
                          ticket.portrait.id, ticket.audio.id, ticket.is_test, utcnow(),
                          GateStage.RUN)
    with session_scope(runtime.sessions) as session:
        check_consent(session, runtime.gate, request)


def _materialise(blobs: BlobStore, asset: AssetRef, directory: Path, stem: str) -> Path:
    """Copy an input out of the store (any backend), named so its type shows in the manifest."""
    path = directory / f"{stem}{_SUFFIXES.get(asset.media_type, '')}"
    digest = hashlib.sha256()
    with blobs.open(asset.storage_key) as source, open(path, "wb") as out:
        for block in iter(lambda: source.read(_CHUNK), b""):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != asset.sha256:
        raise StorageError(f"blob {asset.storage_key} does not hash to the asset's SHA-256",
                           key=asset.storage_key, asset_id=str(asset.id))
    return path


def _check_release(video: ReleasedVideo) -> None:
    from service.release.verify import SIGNED_INTACT

    report = video.verification
    if report.verdict_code != SIGNED_INTACT or report.asset_id != video.asset_id:
        raise ReleaseUnverified(f"the rendered file failed its own verification: "
                                f"{report.verdict}", verdict=report.verdict_code,
                                asset_id=video.asset_id)


def _complete(runtime: WorkerRuntime, ticket: JobTicket, video: ReleasedVideo,
              stored: StoredBlob) -> RenderOutcome:
    now = utcnow()
    try:
        with session_scope(runtime.sessions) as session:
            finished = session.execute(
                _fenced(ticket).values(state=JobState.SUCCEEDED, progress=1.0, finished_at=now,
                                       lease_owner=None, lease_expires_at=None,
                                       error_code=None, error_message=None)
            ).rowcount
            if not finished:
                raise JobAborted(f"job {ticket.job_id} lost its lease before completing",
                                 reason="lease_lost")
            session.add(Artifact(asset_id=video.asset_id, job_id=ticket.job_id,
                                 organisation_id=ticket.organisation_id,
                                 subject_id=ticket.subject_id, consent_id=ticket.consent_id,
                                 sha256=stored.sha256, is_test=ticket.is_test, created_at=now))
            session.flush()
            job = session.get(Job, ticket.job_id, populate_existing=True)
            enqueue_job_event(session, job, "job.succeeded", now=now)
            record(session, runtime.context, "job:job:succeed", f"job:{ticket.job_id}",
                   now=now, payload={"asset_id": video.asset_id, "sha256": stored.sha256,
                                     "frames": video.frames, "attempt": ticket.attempt,
                                     "owner": ticket.owner,
                                     "seconds": round(video.seconds.total, 3),
                                     "transcript_sha256": ticket.transcript_sha256,
                                     "transcript_language": ticket.transcript_language,
                                     "transcript_check": job.transcript_check,
                                     "transcript_score": job.transcript_score})
            manifest = video.verification.manifest
            record_signed(session, runtime.context, asset_id=video.asset_id,
                          manifest_id=manifest.manifest_id, sha256=stored.sha256,
                          job_id=str(ticket.job_id),
                          inputs={"portrait": ticket.portrait.sha256,
                                  "audio": ticket.audio.sha256,
                                  "weights": manifest.weights_sha256})
    except IntegrityError:  # the job already has its artifact: this delivery adds nothing
        log.warning("job %s already has an artifact; %s discarded", ticket.job_id,
                    video.asset_id)
        return RenderOutcome(str(ticket.job_id), "skipped", JobState.SUCCEEDED.value)
    return RenderOutcome(str(ticket.job_id), "succeeded", JobState.SUCCEEDED.value,
                         asset_id=video.asset_id)


def _fail(runtime: WorkerRuntime, ticket: JobTicket, code: str, message: str,
          outcome: Outcome) -> RenderOutcome:
    now = utcnow()
    with session_scope(runtime.sessions) as session:
        failed = session.execute(
            _fenced(ticket).values(state=JobState.FAILED, error_code=code,
                                   error_message=message[:MAX_ERROR_CHARS], finished_at=now,
                                   lease_owner=None, lease_expires_at=None)
        ).rowcount
        if failed:
            enqueue_job_event(session, session.get(Job, ticket.job_id), "job.failed", now=now)
            record(session, runtime.context, "job:job:fail", f"job:{ticket.job_id}",
                   outcome=outcome, now=now,
                   payload={"error_code": code, "attempt": ticket.attempt,
                            "owner": ticket.owner})
    log.info("job %s failed: [%s] %s", ticket.job_id, code, message)
    return RenderOutcome(str(ticket.job_id), "failed" if failed else "aborted",
                         JobState.FAILED.value if failed else None, error_code=code)


def _hand_back(runtime: WorkerRuntime, ticket: JobTicket, exc: BaseException) -> None:
    """Best effort: if the database is the thing that failed, the lease simply expires."""
    try:
        with session_scope(runtime.sessions) as session:
            release_lease(session, runtime.context, ticket, reason=f"transient: {exc}"[:200])
    except TRANSIENT_ERRORS:
        log.warning("job %s: could not hand the lease back; it will expire", ticket.job_id)


def _fenced(ticket: JobTicket):
    """An UPDATE of the job that only matches while this attempt still holds the lease."""
    return (update(Job).where(Job.id == ticket.job_id, Job.state == JobState.RUNNING,
                              Job.lease_owner == ticket.owner)
            .execution_options(synchronize_session=False))


def register_tasks(app: Any) -> None:
    """Register ``likeness.jobs.render`` on a ``LikenessCelery`` app."""
    from service.jobs.celery_app import RENDER_TASK

    # shared=False: each LikenessCelery app owns its task. Shared tasks are registered on every
    # app in the process and resolve to the *first* app's callable (its settings, its database).
    @app.task(name=RENDER_TASK, bind=True, acks_late=True, max_retries=MAX_TASK_RETRIES,
              shared=False)
    def render_job(task: Any, job_id: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            outcome = run_job(app.runtime(), uuid.UUID(job_id))
        except TRANSIENT_ERRORS as exc:
            raise task.retry(exc=exc, countdown=min(2 ** task.request.retries, 30)) from exc
        if outcome.outcome in ("succeeded", "failed"):  # this attempt ended the job
            app.job_metrics.job_finished(JobState(outcome.state), time.perf_counter() - started,
                                         outcome.error_code)
        return dataclasses.asdict(outcome)
