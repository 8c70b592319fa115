"""Stored uploads: a validated upload becomes a blob plus an ``assets`` row owned by one
partner organisation (and one environment: test keys see only sandbox rows).

A portrait uploaded for a subject must be that subject: its identity distance to the nearest
of the subject's reference portraits is at most the threshold, else ``FaceMismatch``. The blob
is written before the row; if the transaction then rolls back the blob is an unreferenced
content-addressed file, harmless and collectable.

A portrait's identity encoding is biometric data: it is stored sealed (``TemplateBox.
seal_portrait``, AES-256-GCM under the deployment's face template key, bound to the asset's id
and organisation), never as plain float32 bytes, and ``portrait_encoding`` opens it again. A
reference portrait whose encoding does not open while the key opens the subject's others (or
was altered under a configured key) is ``SubjectReferenceUnreadable``, naming the asset the
partner has re-encoded from the stored photo (``service.domain.references``); when the keys
open none, ``SealingKeyMismatch``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.consent import match_face
from policy.errors import FaceMismatch
from service.db.audit import AuditContext, record
from service.db.models import Asset, AssetKind, Subject
from service.db.types import new_id, utcnow
from service.domain.face_templates import TemplateBox, Unopenable, unopened_error
from service.domain.uploads import ValidatedUpload
from service.errors import KeysError, NotFound, SealedValueUnreadable, SealingKeyMismatch
from service.storage import BlobStore


@dataclass(frozen=True)
class Owner:
    """Whose rows these are: a partner organisation in one environment."""

    organisation_id: uuid.UUID
    is_test: bool


def portrait_encoding(box: TemplateBox | None, asset: Asset) -> np.ndarray:
    """The (128,) float32 encoding sealed in ``asset.face_encoding`` (which must be set).

    ``KeysError`` when no key is given; ``SealedValueUnreadable`` or ``SealingKeyMismatch``
    when it does not open (``TemplateBox.open_portrait``)."""
    assert asset.face_encoding is not None
    if box is None:
        raise KeysError(f"asset {asset.id} has a sealed face encoding but no face template key "
                        "was given to open it", asset_id=str(asset.id))
    return box.open_portrait(asset.id, asset.organisation_id, asset.face_encoding)


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


def reference_encodings(session: Session, box: TemplateBox | None,
                        subject_id: uuid.UUID) -> list[np.ndarray]:
    """The subject's reference portraits' encodings. One that does not open is never
    skipped: matching against fewer references than registered would be a silent change of
    what the partner's subject is (``portrait_encodings`` says which error)."""
    rows = session.scalars(select(Asset).where(
        Asset.subject_id == subject_id, Asset.is_reference.is_(True),
        Asset.kind == AssetKind.PORTRAIT, Asset.face_encoding.is_not(None)).order_by(Asset.id))
    return list(portrait_encodings(box, rows, subject_id=subject_id).values())


def portrait_encodings(box: TemplateBox | None, assets: Iterable[Asset], *,
                       subject_id: uuid.UUID | None = None) -> dict[uuid.UUID, np.ndarray]:
    """Each reference portrait's encoding by asset id. Those that do not open are
    ``SubjectReferenceUnreadable`` (naming them) unless the keys open none of ``assets``:
    then ``SealingKeyMismatch`` (``face_templates.unopened_error``)."""
    opened: dict[uuid.UUID, np.ndarray] = {}
    failed: dict[uuid.UUID, Unopenable] = {}
    for asset in assets:
        try:
            opened[asset.id] = portrait_encoding(box, asset)
        except (SealingKeyMismatch, SealedValueUnreadable) as error:
            failed[asset.id] = error
    if failed:
        raise unopened_error(failed, opened=len(opened), subject_id=subject_id,
                             references=True)
    return opened


def store_asset(session: Session, context: AuditContext, store: BlobStore, *, owner: Owner,
                upload: ValidatedUpload, box: TemplateBox | None,
                subject_id: uuid.UUID | None = None, face_threshold: float,
                now: datetime | None = None) -> Asset:
    """Store a validated portrait or audio upload, optionally for one of the owner's subjects.
    ``box`` (the deployment's face template key) seals a portrait's encoding and opens the
    subject's references; audio needs none."""
    now = now or utcnow()
    if subject_id is not None:
        owned_subject(session, owner, subject_id)
        if upload.kind == AssetKind.PORTRAIT and upload.face_encoding is not None:
            _check_same_person(session, box, subject_id, upload.face_encoding, face_threshold)
    asset = new_asset_row(store, owner, upload, subject_id=subject_id, now=now, box=box)
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
                  is_reference: bool = False, box: TemplateBox | None = None) -> Asset:
    """Write the blob and build (not add) its row. A portrait's encoding is sealed with
    ``box`` under the row's own id, chosen here (``KeysError`` without a box)."""
    asset_id, sealed = new_id(), None
    if upload.face_encoding is not None:
        if box is None:
            raise KeysError("a portrait's face encoding is stored sealed: give the face "
                            "template key (TemplateBox.from_settings)", kind=upload.kind.value)
        sealed = box.seal_portrait(asset_id, owner.organisation_id, upload.face_encoding)
    blob = store.put_bytes(upload.data)
    return Asset(id=asset_id, organisation_id=owner.organisation_id, subject_id=subject_id,
                 kind=upload.kind, sha256=blob.sha256, size_bytes=blob.size_bytes,
                 media_type=upload.media_type, storage_key=blob.key, face_encoding=sealed,
                 is_reference=is_reference, duration_seconds=upload.duration_seconds,
                 is_test=owner.is_test, created_at=now)


def _check_same_person(session: Session, box: TemplateBox | None, subject_id: uuid.UUID,
                       encoding: np.ndarray, threshold: float) -> None:
    match = match_face(encoding, reference_encodings(session, box, subject_id), threshold)
    if not match.matched:
        measured = "no reference portrait" if match.distance is None else (
            f"identity distance {match.distance:.3f} > threshold {threshold:.3f}")
        raise FaceMismatch(f"the portrait is not subject {subject_id}: {measured}",
                           subject_id=str(subject_id), distance=match.distance,
                           threshold=threshold)
