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

Blobs are content-addressed, so bytes are deleted only when no other retained row - an upload,
a released video, a misuse report's evidence - shares them. Each purge or deletion is an audit
event.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

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
from service.storage import BlobStore, blob_key
from service.storage.deferred import delete_after_commit

PURGEABLE = (AssetKind.PORTRAIT, AssetKind.AUDIO)
EVIDENCE = (AssetKind.CONSENT_DOCUMENT, AssetKind.CONSENT_RECORDING)
ACTIVE = (JobState.QUEUED, JobState.RUNNING)


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
    deleted = _delete_unless_shared(session, store, asset.storage_key, asset.sha256)
    record(session, context, "retention:asset:purge", f"asset:{asset.id}", now=now,
           payload={"kind": asset.kind.value, "sha256": asset.sha256,
                    "bytes_deleted": deleted, "retention_days": retention_days,
                    **extra})
    return asset.id


def _delete_unless_shared(session: Session, store: BlobStore, key: str, sha256: str) -> bool:
    """Delete the blob under ``key`` (the address of ``sha256``) unless a retained row still
    needs it; call once the purged row is marked and flushed. True when the bytes go (once the
    transaction commits: ``service.storage.deferred``). A
    misuse report's uploaded video has no retention (it is evidence): any report keeps it."""
    holders = (
        select(Asset.id).where(Asset.storage_key == key, Asset.purged_at.is_(None)),
        select(Artifact.id).where(Artifact.sha256 == sha256, Artifact.purged_at.is_(None)),
        select(MisuseReport.id).where(MisuseReport.video_storage_key == key),
    )
    if any(session.scalar(query.limit(1)) is not None for query in holders):
        return False
    delete_after_commit(session, store, key)
    return True


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
        deleted = _delete_unless_shared(session, store, blob_key(artifact.sha256),
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
