"""Which rows hold a blob: the one definition every deletion of bytes asks.

Blobs are content-addressed, so one blob can back several rows (the same photo uploaded twice,
a video that is also a misuse report's evidence). Retention purges, erasure and the orphan
sweep (``service.jobs.retention``) delete bytes only when no retained row holds them:

- an asset row not purged, by ``storage_key`` or ``sha256``;
- an artifact not purged (its key is ``blob_key(sha256)``);
- any misuse report's video, by key or hash (reports keep their evidence).

A purged row holds nothing: its bytes were meant to go. These are every column that names a
blob - blobs are written by uploads (``service.domain.assets.new_asset_row``), renders
(``service.jobs.tasks``) and reported videos (``service.api.routes.reports``) only. A new
column that names a blob must be added here, or the orphan sweep will delete its bytes.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.db.models import Artifact, Asset, MisuseReport
from service.storage import BlobStore
from service.storage.deferred import delete_after_commit


def held_blobs(session: Session, keys: dict[str, str]) -> set[str]:
    """Which of ``keys`` (blob key -> its SHA-256) a retained row holds."""
    if not keys:
        return set()
    hashes = {sha256: key for key, sha256 in keys.items()}
    held = set(session.scalars(select(Asset.storage_key).where(
        Asset.storage_key.in_(keys), Asset.purged_at.is_(None))))
    held.update(hashes[sha256] for sha256 in session.scalars(select(Asset.sha256).where(
        Asset.sha256.in_(hashes), Asset.purged_at.is_(None))))
    held.update(hashes[sha256] for sha256 in session.scalars(select(Artifact.sha256).where(
        Artifact.sha256.in_(hashes), Artifact.purged_at.is_(None))))
    for report_key, report_sha256 in session.execute(
            select(MisuseReport.video_storage_key, MisuseReport.video_sha256).where(
                or_(MisuseReport.video_storage_key.in_(keys),
                    MisuseReport.video_sha256.in_(hashes)))):
        held.update(k for k in (report_key, hashes.get(report_sha256)) if k in keys)
    return held


def delete_unless_held(session: Session, store: BlobStore, key: str, sha256: str) -> bool:
    """Delete the blob under ``key`` (the address of ``sha256``) unless a retained row still
    holds it; call once the rows letting go of it are marked purged and flushed. True when the
    bytes go - once the transaction commits (``service.storage.deferred``)."""
    if held_blobs(session, {key: sha256}):
        return False
    delete_after_commit(session, store, key)
    return True
