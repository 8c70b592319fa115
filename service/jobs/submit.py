"""Accepting a generation job: validate, ask the consent gate, write job + outbox + audit.

Everything happens in the caller's transaction and nothing is sent from here: the job row, its
outbox entry and the ``job:job:submit`` audit event commit together or not at all, and the
caller hands ``outbox_entry_id`` to the relay *after* the commit (``OutboxRelay.send_now``). A
broker that is down therefore never loses a job, and a rolled-back job is never rendered.

Idempotency follows Stripe: a key is scoped to the organisation and bound to a hash of the
request (the normalised controls, both inputs' SHA-256, subject, purpose, test mode). The same
key with the same request returns the first job (``replayed``), without asking the gate again;
the same key with another request is ``IdempotencyKeyReused``. Two concurrent first uses of a
key race on the unique ``(organisation_id, idempotency_key)`` constraint inside a savepoint;
the loser reads the winner's job and answers as a replay (or a conflict).

A refusal by the gate appends a ``denied`` audit event and raises ``ConsentRefused``: callers
commit on it (``session_scope(..., commit_on=(ConsentRefused,))``) so the refusal is on record.

Every job declares the transcript of its audio (``service.domain.transcripts``): its hash is
part of the request hash and of the audit event. A transcript in a language the aligner cannot
check holds the job ``awaiting_review`` for an officer, with no outbox entry until approved.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from policy.audit import Outcome, canonical_json
from service.db.audit import AuditContext, record
from service.db.models import Asset, AssetKind, Job, JobState, OutboxEntry, Subject
from service.db.types import utcnow
from service.domain.transcripts import DeclaredTranscript, declare_transcript, initial_check
from service.errors import (
    ConsentRefused,
    IdempotencyKeyReused,
    NotFound,
    RequestInvalid,
)
from service.jobs.controls import controls_json, parse_controls
from service.jobs.gate import ConsentGate, GateRequest, GateStage, check_consent

MAX_IDEMPOTENCY_KEY_CHARS = 200
MAX_PURPOSE_CHARS = 100


@dataclass(frozen=True)
class JobSubmission:
    job: Job
    replayed: bool  # the key matched an earlier identical request: ``job`` is that job
    # For the relay after commit; None on a replay, and for a job held for transcript review.
    outbox_entry_id: uuid.UUID | None


def submit_job(session: Session, context: AuditContext, *, organisation_id: uuid.UUID,
               subject_id: uuid.UUID, purpose: str, portrait_asset_id: uuid.UUID,
               audio_asset_id: uuid.UUID, controls: Mapping[str, Any],
               idempotency_key: str | None, gate: ConsentGate, transcript: str,
               language: str = "en", api_key_id: uuid.UUID | None = None,
               is_test: bool = False, now: datetime | None = None,
               key_unused: bool = False,
               reserve_quota: Callable[[], object] | None = None) -> JobSubmission:
    """Queue a job in the caller's transaction (see the module docstring for the guarantees).

    ``key_unused``: the caller already looked ``idempotency_key`` up in this transaction and
    found no job, so it is not read again (a concurrent first use still ends as a replay,
    through the unique constraint). ``reserve_quota`` runs once the gate has let the job
    through, just before its row is written: the quota's per-organisation lock is then held
    for the insert and the commit only, not through the gate's queries (it raises to refuse;
    a replay never calls it)."""
    now = now or utcnow()
    purpose = _check_purpose(purpose)
    key = _check_key(idempotency_key)
    parsed = controls_json(parse_controls(controls))
    declared = declare_transcript(transcript, language)
    if session.get(Subject, subject_id) is None:
        raise NotFound(f"no subject {subject_id}", resource="subject", id=str(subject_id))
    portrait = _asset(session, portrait_asset_id, organisation_id, AssetKind.PORTRAIT)
    audio = _asset(session, audio_asset_id, organisation_id, AssetKind.AUDIO)
    request_hash = _request_hash(parsed, portrait, audio, subject_id, purpose, is_test,
                                 declared)
    if key is not None and not key_unused:
        earlier = _by_key(session, organisation_id, key)
        if earlier is not None:
            return _replay(earlier, request_hash, key)

    gate_request = GateRequest(organisation_id, subject_id, purpose, portrait.id, audio.id,
                               is_test, now, GateStage.SUBMIT)
    try:
        consent_id = check_consent(session, gate, gate_request)
    except ConsentRefused as exc:
        record(session, context, "job:job:submit", f"subject:{subject_id}",
               outcome=Outcome.DENIED, now=now,
               payload={"reason": exc.context["reason"], "purpose": purpose,
                        "portrait_asset_id": str(portrait.id), "is_test": is_test,
                        "transcript_sha256": declared.sha256})
        raise

    if reserve_quota is not None:
        reserve_quota()
    check = initial_check(declared)
    job = Job(organisation_id=organisation_id, api_key_id=api_key_id, subject_id=subject_id,
              consent_id=consent_id, purpose=purpose, portrait_asset_id=portrait.id,
              audio_asset_id=audio.id, controls=parsed, is_test=is_test,
              state=JobState.QUEUED if declared.aligned else JobState.AWAITING_REVIEW,
              progress=0.0, idempotency_key=key, request_hash=request_hash, attempts=0,
              created_at=now, transcript=declared.text, transcript_language=declared.language,
              transcript_sha256=declared.sha256, transcript_check=check.value)
    if key is None:  # nothing to race on: a failed insert is an error, no savepoint needed
        session.add(job)
        session.flush()
    else:
        replay = _insert_keyed(session, job, organisation_id, request_hash, key)
        if replay is not None:
            return replay

    entry = None
    if job.state == JobState.QUEUED:  # a held job is sent once an officer approves it
        entry = OutboxEntry(job_id=job.id, created_at=now, attempts=0)
        session.add(entry)
        session.flush()
    record(session, context, "job:job:submit", f"job:{job.id}", now=now,
           payload={"subject_id": str(subject_id), "consent_id": str(consent_id),
                    "purpose": purpose, "portrait_sha256": portrait.sha256,
                    "audio_sha256": audio.sha256, "controls": parsed, "is_test": is_test,
                    "idempotency_key": key, "transcript_sha256": declared.sha256,
                    "transcript_language": declared.language,
                    "transcript_check": check.value})
    return JobSubmission(job, replayed=False,
                         outbox_entry_id=None if entry is None else entry.id)


def _insert_keyed(session: Session, job: Job, organisation_id: uuid.UUID, request_hash: str,
                  key: str) -> JobSubmission | None:
    """Insert ``job`` in a savepoint; if a concurrent first use of ``key`` won the race on the
    unique constraint, the answer is a replay of (or a conflict with) that job."""
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        earlier = _by_key(session, organisation_id, key)
        if earlier is None:
            raise
        return _replay(earlier, request_hash, key)
    return None


def _replay(earlier: Job, request_hash: str, key: str) -> JobSubmission:
    if earlier.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was used for a different request (job {earlier.id}); "
            "use a new key for a new request", idempotency_key=key, job_id=str(earlier.id))
    return JobSubmission(earlier, replayed=True, outbox_entry_id=None)


def _by_key(session: Session, organisation_id: uuid.UUID, key: str) -> Job | None:
    return session.execute(
        select(Job).where(Job.organisation_id == organisation_id, Job.idempotency_key == key)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _asset(session: Session, asset_id: uuid.UUID, organisation_id: uuid.UUID,
           kind: AssetKind) -> Asset:
    asset = session.get(Asset, asset_id)
    # Another partner's asset is reported as missing: existence is not disclosed.
    if asset is None or asset.organisation_id != organisation_id:
        raise NotFound(f"no {kind.value} asset {asset_id}", resource="asset", id=str(asset_id))
    if asset.kind != kind:
        raise RequestInvalid(f"asset {asset_id} is a {asset.kind.value}, not a {kind.value}",
                             field=f"{kind.value}_asset_id", kind=asset.kind.value)
    return asset


def _request_hash(controls: dict[str, Any], portrait: Asset, audio: Asset,
                  subject_id: uuid.UUID, purpose: str, is_test: bool,
                  transcript: DeclaredTranscript) -> str:
    document = {"controls": controls, "portrait_sha256": portrait.sha256,
                "audio_sha256": audio.sha256, "subject_id": str(subject_id),
                "purpose": purpose, "is_test": is_test,
                "transcript_sha256": transcript.sha256, "language": transcript.language}
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def _check_purpose(purpose: str) -> str:
    purpose = purpose.strip() if isinstance(purpose, str) else ""
    if not 0 < len(purpose) <= MAX_PURPOSE_CHARS:
        raise RequestInvalid(f"purpose must be 1-{MAX_PURPOSE_CHARS} characters", field="purpose")
    return purpose


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS and key.isprintable()
            and key.strip() == key):
        raise RequestInvalid(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable "
                             "characters without surrounding spaces", field="idempotency_key")
    return key
