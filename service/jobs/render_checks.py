"""What a worker checks besides the consent gate: before a job renders, and while it does.

- ``check_transcript``, before the first frame: the audio must say the job's declared
  transcript (forced alignment, ``service.domain.transcripts``). The model's own audio checks
  come first, so silent or corrupt audio keeps its precise code (``audio_silent``...). Words
  the aligner cannot check (too few in its dictionary) hold the job ``awaiting_review`` for an
  officer; a job an officer approved is not aligned again.
- ``between_windows``, the render's progress hook: at every motion window boundary (the model
  makes motion ``WINDOW_FRAMES`` frames at a time) it reads the job and its consent straight
  from the database and stops the render if the job was cancelled (a revocation cancels every
  job under the consent), its lease moved on, or its consent no longer stands. The lease
  heartbeat notices a cancellation too, but only every ``heartbeat_seconds``; this check
  bounds the frames rendered after a revocation to one window, whatever the heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy import select

from service.db.engine import session_scope
from service.db.models import Consent, ConsentStatus, Job, JobState
from service.db.types import utcnow
from service.domain.transcripts import (
    SpokenCheck,
    TranscriptCheck,
    check_spoken,
    hold_for_review,
    record_spoken_check,
    refuse_mismatch,
)
from service.errors import ConsentRefused, JobAborted
from service.jobs.leases import JobTicket

if TYPE_CHECKING:
    from service.jobs.runtime import WorkerRuntime

# model.pipeline.MOTION_BLOCK_FRAMES (not imported: it would load torch with this module).
WINDOW_FRAMES = 50
Progress = Callable[[int, int], None]


def check_transcript(runtime: WorkerRuntime, ticket: JobTicket, audio: Path) -> None:
    """Refuse (``TranscriptMismatch``) audio that does not say the declared transcript."""
    from model.audio.features import AudioLimits, extract_features
    from service.media.audio import load_audio

    if ticket.transcript_check == TranscriptCheck.OFFICER_APPROVED:
        return
    limit = runtime.settings.max_audio_seconds
    samples, rate = load_audio(audio, max_seconds=limit)
    extract_features(samples, rate, AudioLimits(max_seconds=limit))  # the model's refusals
    check = check_spoken(samples, rate, ticket.transcript, ticket.transcript_language)
    if check.unsupported:
        _hold(runtime, ticket, check)
    with session_scope(runtime.sessions) as session:
        held = record_spoken_check(session, job_id=ticket.job_id, lease_owner=ticket.owner,
                                   check=check)
    if not held:
        _stop(runtime, ticket, "before rendering")
    refuse_mismatch(check, ticket.transcript_sha256)


def _hold(runtime: WorkerRuntime, ticket: JobTicket, check: SpokenCheck) -> None:
    """The words cannot be checked here: the job waits for an officer (and this render ends)."""
    with session_scope(runtime.sessions) as session:
        held = hold_for_review(session, runtime.context, job_id=ticket.job_id,
                               lease_owner=ticket.owner, check=check,
                               sha256=ticket.transcript_sha256)
    if not held:
        _stop(runtime, ticket, "before rendering")
    raise JobAborted(f"job {ticket.job_id} held for an officer: {check.reason}",
                     reason="transcript_review_required", job_id=str(ticket.job_id))


def _stop(runtime: WorkerRuntime, ticket: JobTicket, where: str) -> NoReturn:
    """The job is no longer this worker's: say whether it was cancelled or taken over."""
    with session_scope(runtime.sessions) as session:
        state = session.scalar(select(Job.state).where(Job.id == ticket.job_id))
    reason = "cancelled" if state == JobState.CANCELLED else "lease_lost"
    raise JobAborted(f"job {ticket.job_id} stopped {where}: {reason}", reason=reason,
                     job_id=str(ticket.job_id))


def between_windows(runtime: WorkerRuntime, ticket: JobTicket, report: Progress) -> Progress:
    """``report`` (the lease keeper's hook) plus the job and consent check at each window."""
    def progress(done: int, total: int) -> None:
        report(done, total)
        if done % WINDOW_FRAMES == 0 and done < total:
            check_standing(runtime, ticket)

    return progress


def check_standing(runtime: WorkerRuntime, ticket: JobTicket) -> None:
    """Raise ``JobAborted`` (cancelled, lease lost) or ``ConsentRefused`` (the consent was
    revoked or expired without the job being cancelled) if the render must stop now."""
    with session_scope(runtime.sessions) as session:
        row = session.execute(
            select(Job.state, Job.lease_owner, Consent.status, Consent.expires_at)
            .join(Consent, Consent.id == Job.consent_id).where(Job.id == ticket.job_id)
        ).one_or_none()
    if row is None or row.state != JobState.RUNNING or row.lease_owner != ticket.owner:
        _stop(runtime, ticket, "between windows")
    if row.status != ConsentStatus.APPROVED:
        raise ConsentRefused(f"consent refused (consent_{row.status.value}) while rendering",
                             reason=f"consent_{row.status.value}",
                             subject_id=str(ticket.subject_id))
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise ConsentRefused("consent refused (consent_expired) while rendering",
                             reason="consent_expired", subject_id=str(ticket.subject_id))
