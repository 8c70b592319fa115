"""Retention of uploaded media: portraits and speech are deleted ``media_retention_days`` after
upload, once no queued or running job still needs them.

Kept regardless: a subject's reference portraits and consent evidence (they live as long as the
consent they support), and every row (jobs, the registry and the audit trail cite them; a purged
row has ``purged_at`` set). Blobs are content-addressed, so the bytes are deleted only when no
other retained asset shares them. Each purge is an audit event.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import Asset, AssetKind, Job, JobState
from service.storage import BlobStore

PURGEABLE = (AssetKind.PORTRAIT, AssetKind.AUDIO)
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
    purged = []
    for asset in due:
        asset.purged_at = now
        session.flush()
        shared = session.scalar(select(Asset.id).where(
            Asset.storage_key == asset.storage_key, Asset.purged_at.is_(None)).limit(1))
        if shared is None:
            store.delete(asset.storage_key)
        record(session, context, "retention:asset:purge", f"asset:{asset.id}", now=now,
               payload={"kind": asset.kind.value, "sha256": asset.sha256,
                        "bytes_deleted": shared is None, "retention_days": retention_days})
        purged.append(asset.id)
    return purged
