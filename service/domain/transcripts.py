"""What the subject is made to say: the transcript every job declares, and its checks.

A partner declares, with every job, the words its speech says and their language; the service
holds it to them, so it is provable who made the subject say what.

- At submission (``declare_transcript``): the text is normalised (Unicode NFC, runs of
  whitespace collapsed, trimmed), bounded (1-``MAX_TRANSCRIPT_CHARS`` characters), its
  language a BCP 47 tag (default ``en``). The SHA-256 of the normalised text's UTF-8 bytes is
  stored with the job and written to the submit and completion audit events and, by the
  release path, to the C2PA manifest (``org.likeness.transcript``: hash and language, never
  the text; ``policy.consent.evidence.transcript_sha256``): anyone holding the text can
  recompute it.
- A language the aligner supports queues the job with check ``pending``. Any other language
  holds it ``awaiting_review`` (check ``review_required``): pocketsphinx ships an English model
  only, and a transcript nobody checks would let a partner put any words in the subject's
  mouth. A compliance officer reads the transcript, listens to the audio and approves (the job
  queues, check ``officer_approved``; the worker does not align it again) or rejects it (the
  job fails ``transcript_rejected``). Held rather than refused: the partner need not resubmit.
- Before rendering, in the worker (``check_spoken``): forced alignment of the audio against the
  declared text (about 0.2 s per 6 s of audio, so at submission it would cost the API up to
  20 s on a ten-minute clip). A mismatch fails the job ``transcript_mismatch`` (audit outcome
  ``denied``) before any frame is made; the check and its score are stored on the job, and the
  completion event carries them. English words the aligner's dictionary mostly lacks (names,
  jargon) cannot be checked either: the worker holds that job ``awaiting_review`` too.

The text itself is kept with the job: the subject's private page shows it. Erasing the subject
deletes it; the hash stays.
"""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from policy.audit import Outcome
from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.models import Job, JobState, OutboxEntry, Role
from service.db.types import utcnow
from service.errors import (
    NotFound,
    RequestInvalid,
    StateConflict,
    TranscriptMismatch,
    TranscriptMissing,
)
from service.webhooks.events import enqueue_job_event

# policy.consent.evidence (the aligner: pocketsphinx, scipy; 1.7 s to import) is imported by
# the worker's check only; submission mirrors its three constants, which a test holds equal:
# the limit, the languages it has a model for, and the hash (transcript_sha256: SHA-256 of
# the NFC, whitespace-collapsed, trimmed text's UTF-8).
MAX_TRANSCRIPT_CHARS = 5000
ALIGNED_LANGUAGES = frozenset({"en"})
DEFAULT_LANGUAGE = "en"
TRANSCRIPT_REJECTED = "transcript_rejected"
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")
_SPACE = re.compile(r"\s+")


class TranscriptCheck(enum.StrEnum):
    PENDING = "pending"  # to be aligned by the worker before rendering
    MATCHED = "matched"
    MISMATCH = "mismatch"
    REVIEW_REQUIRED = "review_required"  # a language the aligner cannot check: an officer reads
    OFFICER_APPROVED = "officer_approved"
    OFFICER_REJECTED = "officer_rejected"


@dataclass(frozen=True)
class DeclaredTranscript:
    """A job's transcript as stored: normalised text, BCP 47 language, SHA-256 of the text."""

    text: str
    language: str
    sha256: str

    @property
    def aligned(self) -> bool:
        """Whether the aligner can check it (else an officer must)."""
        return aligner_supports(self.language)


@dataclass(frozen=True)
class SpokenCheck:
    """The aligner's answer for one job's audio: ``status`` matched, mismatch or unsupported
    (too few of the words are in the aligner's dictionary: an officer must check them)."""

    status: str
    score: float | None  # share of the declared words heard (0..1)
    reason: str | None  # why it did not match, for the partner

    @property
    def matched(self) -> bool:
        return self.status == "matched"

    @property
    def unsupported(self) -> bool:
        return self.status == "unsupported"


def declare_transcript(text: object, language: object = DEFAULT_LANGUAGE) -> DeclaredTranscript:
    """Validate and normalise what a partner declared; ``RequestInvalid`` naming the field."""
    if not isinstance(text, str):
        raise RequestInvalid("transcript must be text: the words the audio says",
                             field="transcript")
    normal = _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if not 0 < len(normal) <= MAX_TRANSCRIPT_CHARS:
        raise RequestInvalid(f"transcript must be 1-{MAX_TRANSCRIPT_CHARS} characters: the "
                             "words the audio says", field="transcript", chars=len(normal))
    if not normal.isprintable():
        raise RequestInvalid("transcript holds control characters", field="transcript")
    tag = language.strip().lower() if isinstance(language, str) else ""
    if not _LANGUAGE.fullmatch(tag):
        raise RequestInvalid(f"language must be a BCP 47 tag such as 'en' or 'fr-ca'; got "
                             f"{language!r}", field="language")
    return DeclaredTranscript(normal, _canonical_tag(tag),
                              hashlib.sha256(normal.encode("utf-8")).hexdigest())


def _canonical_tag(tag: str) -> str:
    """"en-us" -> "en-US" (region upper case), the form the manifest records."""
    parts = tag.split("-")
    return "-".join([parts[0], *(p.upper() if len(p) == 2 else p for p in parts[1:])])


def aligner_supports(language: str) -> bool:
    """Whether forced alignment can check this language: pocketsphinx ships one acoustic
    model and dictionary, US English, which aligns any English (``en``, ``en-GB``...)."""
    return language.split("-")[0].lower() in ALIGNED_LANGUAGES


def initial_check(declared: DeclaredTranscript) -> TranscriptCheck:
    return TranscriptCheck.PENDING if declared.aligned else TranscriptCheck.REVIEW_REQUIRED


def check_spoken(samples: np.ndarray, sample_rate: int, text: str | None,
                 language: str | None) -> SpokenCheck:
    """Align ``samples`` against the declared text; ``TranscriptMissing`` for a job without
    one. The caller records the answer and refuses a mismatch (``refuse_mismatch``)."""
    from policy.consent.evidence import check_transcript

    if not text or not language:
        raise TranscriptMissing("the job declares no transcript (submitted before transcripts "
                                "were required): submit it again with one")
    result = check_transcript(samples, sample_rate, text, language)
    return SpokenCheck(result.status, _score(result.score), result.reason)


def _score(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def refuse_mismatch(check: SpokenCheck, sha256: str | None) -> None:
    if not check.matched:
        raise TranscriptMismatch(f"the audio does not say the declared transcript: "
                                 f"{check.reason or 'the words do not align'}",
                                 score=check.score, reason=check.reason,
                                 transcript_sha256=sha256)


def record_spoken_check(session: Session, *, job_id: uuid.UUID, lease_owner: str,
                        check: SpokenCheck) -> bool:
    """Store the check on the job (fenced on the worker's lease); False if the job is no
    longer this worker's (cancelled meanwhile). The job's completion or failure event then
    carries it (``transcript_check``, ``transcript_score`` / ``error_code``)."""
    state = TranscriptCheck.MATCHED if check.matched else TranscriptCheck.MISMATCH
    stored = session.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING,
                          Job.lease_owner == lease_owner)
        .values(transcript_check=state.value, transcript_score=check.score)
        .execution_options(synchronize_session=False)).rowcount
    return bool(stored)


def hold_for_review(session: Session, context: AuditContext, *, job_id: uuid.UUID,
                    lease_owner: str, check: SpokenCheck, sha256: str | None,
                    now: datetime | None = None) -> bool:
    """Running -> awaiting_review (fenced on the lease) when the aligner cannot check the
    words (too few are in its dictionary); False if the job is no longer this worker's."""
    now = now or utcnow()
    held = session.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING,
                          Job.lease_owner == lease_owner)
        .values(state=JobState.AWAITING_REVIEW, progress=0.0, lease_owner=None,
                lease_expires_at=None, transcript_check=TranscriptCheck.REVIEW_REQUIRED.value)
        .execution_options(synchronize_session=False)).rowcount
    if held:
        record(session, context, "job:transcript:hold", f"job:{job_id}", now=now,
               payload={"reason": check.reason, "transcript_sha256": sha256})
    return bool(held)


# -- the officer's review of transcripts the aligner cannot check ------------------------------


def held_jobs(session: Session, *, limit: int, after: uuid.UUID | None = None) -> list[Job]:
    """Jobs awaiting an officer's transcript review, oldest first (ids are UUIDv7)."""
    query = (select(Job).where(Job.state == JobState.AWAITING_REVIEW)
             .order_by(Job.id).limit(limit))
    if after is not None:
        query = query.where(Job.id > after)
    return list(session.scalars(query))


def held_job(session: Session, job_id: uuid.UUID, *, lock: bool = False) -> Job:
    job = session.get(Job, job_id, with_for_update=lock, populate_existing=True)
    if job is None:
        raise NotFound(f"no job {job_id}", resource="job", id=str(job_id))
    if job.state != JobState.AWAITING_REVIEW:
        raise StateConflict(f"job {job_id} is {job.state.value}, not awaiting a transcript "
                            "review", state=job.state.value)
    return job


def approve_transcript(session: Session, context: AuditContext, *, job_id: uuid.UUID,
                       officer_id: uuid.UUID, now: datetime | None = None
                       ) -> tuple[Job, uuid.UUID]:
    """Held -> queued; returns the job and the outbox entry to send after commit."""
    now = now or utcnow()
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    job = held_job(session, job_id, lock=True)
    job.state = JobState.QUEUED
    job.transcript_check = TranscriptCheck.OFFICER_APPROVED.value
    entry = OutboxEntry(job_id=job.id, created_at=now, attempts=0)
    session.add(entry)
    session.flush()
    record(session, context, "compliance:transcript:approve", f"job:{job.id}", now=now,
           payload={"officer_id": str(officer_id), "transcript_sha256": job.transcript_sha256,
                    "language": job.transcript_language})
    return job, entry.id


def reject_transcript(session: Session, context: AuditContext, *, job_id: uuid.UUID,
                      officer_id: uuid.UUID, reason: str, now: datetime | None = None) -> Job:
    """Held -> failed ``transcript_rejected`` with the officer's reason for the partner."""
    now = now or utcnow()
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    reason = reason.strip()
    if not 0 < len(reason) <= 2000:
        raise RequestInvalid("give a reason of 1-2000 characters", field="reason")
    job = held_job(session, job_id, lock=True)
    job.state = JobState.FAILED
    job.transcript_check = TranscriptCheck.OFFICER_REJECTED.value
    job.error_code, job.error_message, job.finished_at = TRANSCRIPT_REJECTED, reason, now
    session.flush()
    enqueue_job_event(session, job, "job.failed", now=now)
    record(session, context, "compliance:transcript:reject", f"job:{job.id}",
           outcome=Outcome.DENIED, now=now,
           payload={"officer_id": str(officer_id), "reason": reason,
                    "transcript_sha256": job.transcript_sha256,
                    "language": job.transcript_language})
    return job
