"""Stored uploads: a validated upload becomes a blob plus an ``assets`` row owned by one
partner organisation (and one environment: test keys see only sandbox rows).

A portrait uploaded for a subject must be that subject: its identity distance to the nearest
of the subject's reference portraits is at most the threshold, else ``FaceMismatch``. The blob
is written before the row; if the transaction then rolls back the blob is an unreferenced
content-addressed file, harmless and collectable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.consent import match_face
from policy.errors import FaceMismatch
from service.db.audit import AuditContext, record
from service.db.models import Asset, AssetKind, Subject
from service.db.types import utcnow
from service.domain.uploads import ValidatedUpload
from service.errors import NotFound
from service.storage import BlobStore

ENCODING_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class Owner:
    """Whose rows these are: a partner organisation in one environment."""

    organisation_id: uuid.UUID
    is_test: bool


def encode_face(encoding: np.ndarray) -> bytes:
    return np.asarray(encoding, dtype=ENCODING_DTYPE).tobytes()


def decode_face(blob: bytes) -> np.ndarray:
    """(128,) float32 from the stored little-endian bytes."""
    return np.frombuffer(blob, dtype=ENCODING_DTYPE).astype(np.float32)


def get_asset(session: Session, owner: Owner, asset_id: uuid.UUID) -> Asset:
    """The owner's asset; another partner's (or environment's) is ``NotFound`` alike."""
    asset = session.get(Asset, asset_id)
    if asset is None or asset.organisation_id != owner.organisation_id \
            or asset.is_test != owner.is_test:
        raise NotFound(f"no asset {asset_id}", resource="asset", id=str(asset_id))
    return asset


def owned_subject(session: Session, owner: Owner, subject_id: uuid.UUID) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None or subject.organisation_id != owner.organisation_id \
            or subject.is_test != owner.is_test:
        raise NotFound(f"no subject {subject_id}", resource="subject", id=str(subject_id))
    return subject


def reference_encodings(session: Session, subject_id: uuid.UUID) -> list[np.ndarray]:
    rows = session.scalars(select(Asset.face_encoding).where(
        Asset.subject_id == subject_id, Asset.is_reference.is_(True),
        Asset.kind == AssetKind.PORTRAIT, Asset.face_encoding.is_not(None)))
    return [decode_face(blob) for blob in rows]


def store_asset(session: Session, context: AuditContext, store: BlobStore, *, owner: Owner,
                upload: ValidatedUpload, subject_id: uuid.UUID | None = None,
                face_threshold: float, now: datetime | None = None) -> Asset:
    """Store a validated portrait or audio upload, optionally for one of the owner's subjects."""
    now = now or utcnow()
    if subject_id is not None:
        owned_subject(session, owner, subject_id)
        if upload.kind == AssetKind.PORTRAIT and upload.face_encoding is not None:
            _check_same_person(session, subject_id, upload.face_encoding, face_threshold)
    asset = new_asset_row(store, owner, upload, subject_id=subject_id, now=now)
    session.add(asset)
    session.flush()
    record(session, context, "partner:asset:upload", f"asset:{asset.id}", now=now,
           payload={"kind": asset.kind.value, "sha256": asset.sha256,
                    "size_bytes": asset.size_bytes, "media_type": asset.media_type,
                    "subject_id": None if subject_id is None else str(subject_id),
                    "is_test": owner.is_test})
    return asset


def new_asset_row(store: BlobStore, owner: Owner, upload: ValidatedUpload, *,
                  subject_id: uuid.UUID | None, now: datetime,
                  is_reference: bool = False) -> Asset:
    """Write the blob and build (not add) its row."""
    blob = store.put_bytes(upload.data)
    encoding = None if upload.face_encoding is None else encode_face(upload.face_encoding)
    return Asset(organisation_id=owner.organisation_id, subject_id=subject_id, kind=upload.kind,
                 sha256=blob.sha256, size_bytes=blob.size_bytes, media_type=upload.media_type,
                 storage_key=blob.key, face_encoding=encoding, is_reference=is_reference,
                 duration_seconds=upload.duration_seconds, is_test=owner.is_test, created_at=now)


def _check_same_person(session: Session, subject_id: uuid.UUID, encoding: np.ndarray,
                       threshold: float) -> None:
    match = match_face(encoding, reference_encodings(session, subject_id), threshold)
    if not match.matched:
        measured = "no reference portrait" if match.distance is None else (
            f"identity distance {match.distance:.3f} > threshold {threshold:.3f}")
        raise FaceMismatch(f"the portrait is not subject {subject_id}: {measured}",
                           subject_id=str(subject_id), distance=match.distance,
                           threshold=threshold)
