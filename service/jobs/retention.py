"""Retention sweeps, run by the workers' maintenance loop.

- ``purge_expired_media``: uploaded portraits and speech are deleted ``media_retention_days``
  after upload, once no queued or running job still needs them. Kept regardless: a subject's
  reference portraits (they live as long as the consent they support) and every row (jobs, the
  registry and the audit trail cite them; a purged row has ``purged_at`` set, and a purged
  portrait loses its face encoding with its bytes).
- ``purge_decided_evidence``: consent evidence (a recorded statement, a signed form, a live
  capture) is deleted ``evidence_retention_days`` after its consent was decided (default 0:
  at the first sweep after the decision). Evidence a pending consent or a consent request in
  progress still needs is kept for the officer. The SHA-256, the check scores and the decision
  stay.
- ``delete_unneeded_templates``: face templates of subjects whose consents have all ended
  (expired, revoked, rejected) and who have no request in progress
  (``service.domain.biometrics``); a revocation deletes them at once, this catches expiry.
- ``purge_expired_artifacts``: released videos' bytes are deleted ``artifact_retention_days``
  after release. The artifact row stays with ``purged_at`` set: it is the provenance
  registry's record, so ``POST /v1/verify`` still resolves the watermark of a copy held
  elsewhere (and says the service no longer holds the file); downloading it answers 410.

- ``sweep_orphan_blobs``: bytes in the blob store that no row holds (below), older than a
  grace period (``orphan_blob_grace_hours``, default 24). Bytes are orphaned by an upload whose
  transaction rolled back after its blob was written, a render discarded when its lease was
  lost, or a crash between a purge's commit and its after-commit deletion
  (``service.storage.deferred``); nothing else would ever remove them. The workers run it at
  most once an hour each: listing a bucket is expensive.

Blobs are content-addressed, so bytes are deleted only when no other retained row - an upload,
a released video, a misuse report's evidence - shares them. Each purge or deletion is an audit
event; an orphan sweep is one event for the whole run (count and bytes), when it deleted any.

What holds a blob (``service.domain.blob_holders``, the one definition the purges, erasure and
the sweep use): an asset
row not purged (by ``storage_key`` or ``sha256``), an artifact not purged (its key is
``blob_key(sha256)``), any misuse report's video (by key or hash: reports keep their evidence).
A purged row holds nothing: its bytes were meant to go. These are every column that names a
blob: blobs are written by uploads (``service.domain.assets.new_asset_row``), renders
(``service.jobs.tasks``) and reported videos (``service.api.routes.reports``) only. A new
column that names a blob must be added to ``held_blobs``, or the sweep will delete its bytes.

Why the sweep cannot take bytes still wanted:

- An upload in flight (blob written, row not yet committed) is young: the grace period must
  exceed the longest time from a blob's write to its row's commit (seconds: uploads, renders
  and reports put the blob, then commit). It must also dwarf clock skew between the workers
  and what dates the blobs (an S3 server, a network filesystem). The setting refuses less
  than an hour.
- An upload of bytes that an old orphan already holds finds the blob and writes nothing, but
  that put refreshes the blob's modification time first (``service.storage.base``), and the
  store re-reads the time at the moment of deletion (``BlobStore.delete_if_older``): a row
  that commits after the sweep's check was put before it, so the blob reads young and stays
  (on S3, up to a HEAD-then-DELETE round trip: ``service.storage.s3``).
- Rows are checked after the listing, in batches (``IN`` over at most ``batch`` keys), so a
  row committed before the check is seen.
- A store holds one deployment's blobs: never point two databases at one directory or one
  bucket prefix, or each one's sweep deletes the other's bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import (
    Artifact,
    Asset,
    AssetKind,
    Consent,
    ConsentRequest,
    ConsentStatus,
    Job,
    JobState,
    MisuseReport,
    ReportStatus,
)
from service.domain.biometrics import (
    IN_PROGRESS,
    delete_templates,
    subjects_with_unneeded_templates,
)
from service.domain.blob_holders import delete_unless_held, held_blobs
from service.storage import BlobStore, ListedBlob, blob_key

PURGEABLE = (AssetKind.PORTRAIT, AssetKind.AUDIO)
EVIDENCE = (AssetKind.CONSENT_DOCUMENT, AssetKind.CONSENT_RECORDING)
ACTIVE = (JobState.QUEUED, JobState.RUNNING)
# The shortest grace the sweep accepts: far above any write-to-commit time (see module doc).
MIN_ORPHAN_GRACE = timedelta(hours=1)


def purge_expired_media(session: Session, context: AuditContext, store: BlobStore, *,
                        retention_days: float, now: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Purge uploads older than ``retention_days``; returns the purged asset ids."""
    cutoff = now - timedelta(days=retention_days)
    in_use = select(Job.id).where(
        Job.state.in_(ACTIVE),
        or_(Job.portrait_asset_id == Asset.id, Job.audio_asset_id == Asset.id)).exists()
    due = session.scalars(
        select(Asset).where(Asset.kind.in_(PURGEABLE), Asset.is_reference.is_(False),
                            Asset.purged_at.is_(None), Asset.created_at < cutoff, ~in_use)
        .order_by(Asset.created_at).limit(limit).with_for_update(skip_locked=True)).all()
    return [_purge(session, context, store, asset, now, retention_days) for asset in due]


def _purge(session: Session, context: AuditContext, store: BlobStore, asset: Asset,
           now: datetime, retention_days: float, **extra: object) -> uuid.UUID:
    asset.purged_at, asset.face_encoding = now, None
    session.flush()
    deleted = delete_unless_held(session, store, asset.storage_key, asset.sha256)
    record(session, context, "retention:asset:purge", f"asset:{asset.id}", now=now,
           payload={"kind": asset.kind.value, "sha256": asset.sha256,
                    "bytes_deleted": deleted, "retention_days": retention_days,
                    **extra})
    return asset.id


@dataclass(frozen=True)
class OrphanSweep:
    """What one orphan sweep did: blobs old enough to judge, and those deleted."""

    blobs_checked: int
    blobs_deleted: int
    bytes_deleted: int


def sweep_orphan_blobs(session: Session, context: AuditContext, store: BlobStore, *,
                       now: datetime, grace: timedelta, limit: int = 1000,
                       batch: int = 500) -> OrphanSweep:
    """Delete blobs written (or put again) more than ``grace`` before ``now`` that no row
    holds, at most ``limit`` of them; one audit event when any went (see module doc).

    The store is listed lazily and judged ``batch`` keys at a time against the database; a
    deletion happens at once (no row changes, so nothing waits for a commit)."""
    if grace < MIN_ORPHAN_GRACE:
        raise ValueError(f"an orphan grace period under {MIN_ORPHAN_GRACE} could take the "
                         "bytes of an upload whose row is not committed yet")
    if now.tzinfo is None or limit < 1 or batch < 1:
        raise ValueError("now must be timezone-aware; limit and batch at least 1")
    cutoff = now - grace
    checked = deleted = freed = 0
    try:
        for chunk in _chunks(store.list_keys(cutoff), batch):
            checked += len(chunk)
            held = held_blobs(session, {blob.key: blob.key.rsplit("/", 1)[1] for blob in chunk})
            for blob in chunk:
                if blob.key not in held and store.delete_if_older(blob.key, cutoff):
                    deleted, freed = deleted + 1, freed + blob.size_bytes
                    if deleted == limit:
                        return OrphanSweep(checked, deleted, freed)
        return OrphanSweep(checked, deleted, freed)
    finally:  # also when a listing or deletion failed part-way: what went is recorded
        if deleted:
            record(session, context, "retention:blob:sweep", "blob_store:orphans", now=now,
                   payload={"blobs_deleted": deleted, "bytes_deleted": freed,
                            "blobs_checked": checked,
                            "grace_hours": grace / timedelta(hours=1)})


def _chunks(blobs: Iterable[ListedBlob], size: int) -> Iterator[Sequence[ListedBlob]]:
    iterator = iter(blobs)
    while chunk := list(islice(iterator, size)):
        yield chunk


def purge_expired_artifacts(session: Session, context: AuditContext, store: BlobStore, *,
                            retention_days: float, now: datetime,
                            limit: int = 500) -> list[uuid.UUID]:
    """Delete the bytes of videos released more than ``retention_days`` ago; returns the
    purged artifact ids.

    The artifact row stays (``purged_at`` set): the provenance registry must still answer for
    a copy of the video held elsewhere - its watermark names the record. A video with an open
    misuse report (by its artifact or its asset id) is evidence under investigation and is
    kept until the report is resolved; the next sweep after that deletes it. Filing a report
    locks the artifact row (``service.domain.reports``), so a report filed during a sweep
    either makes the sweep skip the row or waits for it and then cites a purged record.
    """
    cutoff = now - timedelta(days=retention_days)
    reported = select(MisuseReport.id).where(
        MisuseReport.status == ReportStatus.OPEN,
        or_(MisuseReport.artifact_id == Artifact.id,
            MisuseReport.asset_id == Artifact.asset_id)).exists()
    due = session.scalars(
        select(Artifact).where(Artifact.purged_at.is_(None), Artifact.created_at < cutoff,
                               ~reported)
        .order_by(Artifact.created_at).limit(limit).with_for_update(skip_locked=True)).all()
    purged = []
    for artifact in due:
        artifact.purged_at = now
        session.flush()
        deleted = delete_unless_held(session, store, blob_key(artifact.sha256),
                                        artifact.sha256)
        record(session, context, "retention:artifact:purge", f"artifact:{artifact.asset_id}",
               now=now, payload={"sha256": artifact.sha256, "bytes_deleted": deleted,
                                 "retention_days": retention_days,
                                 "job_id": None if artifact.job_id is None
                                 else str(artifact.job_id)})
        purged.append(artifact.id)
    return purged


def purge_decided_evidence(session: Session, context: AuditContext, store: BlobStore, *,
                           retention_days: float, now: datetime,
                           limit: int = 500) -> list[uuid.UUID]:
    """Purge consent evidence decided more than ``retention_days`` ago (see module doc)."""
    cutoff = now - timedelta(days=retention_days)
    decided_at = func.coalesce(Consent.reviewed_at, Consent.revoked_at, Consent.requested_at)
    decided = or_(
        select(Consent.id).where(Consent.evidence_asset_id == Asset.id,
                                 Consent.status != ConsentStatus.PENDING,
                                 decided_at <= cutoff).exists(),
        select(ConsentRequest.id).where(ConsentRequest.evidence_asset_id == Asset.id,
                                        ConsentRequest.status.not_in(IN_PROGRESS),
                                        ConsentRequest.decided_at <= cutoff).exists())
    needed = or_(
        select(Consent.id).where(Consent.evidence_asset_id == Asset.id,
                                 Consent.status == ConsentStatus.PENDING).exists(),
        select(ConsentRequest.id).where(ConsentRequest.evidence_asset_id == Asset.id,
                                        ConsentRequest.status.in_(IN_PROGRESS)).exists())
    due = session.scalars(
        select(Asset).where(Asset.kind.in_(EVIDENCE), Asset.purged_at.is_(None), decided,
                            ~needed)
        .order_by(Asset.created_at).limit(limit).with_for_update(skip_locked=True)).all()
    return [_purge(session, context, store, asset, now, retention_days, reason="decided")
            for asset in due]


def delete_unneeded_templates(session: Session, context: AuditContext, *,
                              now: datetime) -> list[uuid.UUID]:
    """Delete the face templates no living consent needs; returns the subjects affected."""
    subjects = subjects_with_unneeded_templates(session, now)
    for subject_id in subjects:
        delete_templates(session, context, subject_id, reason="consent_ended", now=now)
    return subjects
