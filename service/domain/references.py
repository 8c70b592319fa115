"""Repairing a reference portrait's sealed face encoding from the service's own copy of the photo.

A reference whose encoding no longer opens while the keys open its siblings (altered, or copied
from another row) makes the consent gate answer 409 ``subject_reference_unreadable``. The photo
itself is still here: reference portraits stay in the blob store while their consent lives
(``service.jobs.retention``). ``reencode_reference`` (``POST /v1/subjects/{id}/references/
{asset_id}/re-encode``) reads those bytes, checks that they still hash to the SHA-256 the row
recorded at upload (the store is content-addressed: other bytes under the key mean the store
was altered or corrupted, and nothing is derived from them), runs the upload's own validation
(``validate_portrait``: format, full decode, exactly one usable face, the 128-D encoding) and
seals the result under the current key (``TemplateBox.seal_portrait``). The partner supplies
neither bytes nor encoding, so a repair cannot change who the subject is: the photo is the one
registration compared with its siblings.

- ``unchanged``: the encoding opens (a second call, or a sibling's fault): nothing is written.
- ``re_encoded``: sealed afresh; one audit event naming the asset, its SHA-256 and the key id,
  never the encoding. A reference whose encoding is missing while a consent still needs the
  subject's encodings (deleted by migration 0010, before sealing) is restored the same way.
- ``ReferencePortraitGone`` (410): the bytes were purged, erased or are missing: only a new
  subject with a fresh photo helps.
- ``ReferencePortraitAltered`` (409): the stored bytes are not the photo uploaded; logged for
  operators.
- ``SealingKeyMismatch`` (503): the keys open none of the subject's references: the
  deployment's key is at fault, and re-sealing would hide that (the gate's own rule,
  ``face_templates.unopened_error``).
- ``StateConflict``: the subject's consents have all ended, so its encodings were deleted on
  purpose (``service.domain.biometrics``); they are not re-derived.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import Asset, AssetKind, Consent
from service.db.types import utcnow
from service.domain.assets import Owner, get_asset, owned_subject, reference_encodings
from service.domain.biometrics import templates_needed
from service.domain.face_templates import TemplateBox
from service.domain.uploads import UploadLimits, validate_portrait
from service.errors import (
    BlobMissing,
    NotFound,
    ReferencePortraitAltered,
    ReferencePortraitGone,
    StateConflict,
    SubjectReferenceUnreadable,
)
from service.storage import BlobStore

log = logging.getLogger(__name__)


class ReencodeOutcome(enum.StrEnum):
    UNCHANGED = "unchanged"
    RE_ENCODED = "re_encoded"


@dataclass(frozen=True)
class ReencodeResult:
    asset: Asset
    outcome: ReencodeOutcome


def reencode_reference(session: Session, context: AuditContext, store: BlobStore, *,
                       owner: Owner, subject_id: uuid.UUID, asset_id: uuid.UUID,
                       box: TemplateBox, limits: UploadLimits,
                       now: datetime | None = None) -> ReencodeResult:
    """Re-derive and re-seal the encoding of one of the owner's subject's reference
    portraits, if it needs it (see the module docstring for each outcome)."""
    now = now or utcnow()
    owned_subject(session, owner, subject_id)
    asset = get_asset(session, owner, asset_id)
    if asset.subject_id != subject_id or not asset.is_reference \
            or asset.kind != AssetKind.PORTRAIT:
        raise NotFound(f"subject {subject_id} has no reference portrait {asset_id}",
                       resource="reference", id=str(asset_id))
    # Two repairs of one row at once: the second waits, then finds the encoding open.
    session.refresh(asset, with_for_update=True)
    if asset.purged_at is not None:
        raise _gone(asset, subject_id, f"it was deleted on {asset.purged_at.date()}")
    if asset.face_encoding is None:
        if _encodings_ended(session, subject_id, now):
            raise StateConflict(
                f"the consents of subject {subject_id} have all ended, so its face encodings "
                "were deleted and are not derived again: ask the subject for consent again "
                f"(POST /v1/subjects/{subject_id}/consent-requests), then re-encode",
                subject_id=str(subject_id), asset_id=str(asset.id))
        was = "missing"
    elif _opens(session, box, asset, subject_id):
        return ReencodeResult(asset, ReencodeOutcome.UNCHANGED)
    else:
        was = "unreadable"
    upload = validate_portrait(_stored_photo(store, asset, subject_id), limits)
    assert upload.face_encoding is not None  # a validated portrait has one
    asset.face_encoding = box.seal_portrait(asset.id, asset.organisation_id,
                                            upload.face_encoding)
    session.flush()
    record(session, context, "partner:subject:reencode_reference", f"asset:{asset.id}", now=now,
           payload={"subject_id": str(subject_id), "asset_id": str(asset.id),
                    "sha256": asset.sha256, "key_id": box.key_id, "was": was,
                    "is_test": owner.is_test})
    return ReencodeResult(asset, ReencodeOutcome.RE_ENCODED)


def _opens(session: Session, box: TemplateBox, asset: Asset, subject_id: uuid.UUID) -> bool:
    """Whether the asset's encoding opens; False when it is this row's fault as the gate
    judges it (``SubjectReferenceUnreadable`` naming it). ``SealingKeyMismatch`` (the keys
    open none of the subject's references) propagates: the key is wrong, not the row."""
    try:
        reference_encodings(session, box, subject_id)
    except SubjectReferenceUnreadable as unreadable:
        return str(asset.id) not in unreadable.context.get("asset_ids", ())
    return True


def _encodings_ended(session: Session, subject_id: uuid.UUID, now: datetime) -> bool:
    """The biometrics rule: a subject with consents, none living and no request in progress,
    holds no encodings (one with no consent yet is mid-registration, and keeps them)."""
    has_consent = session.scalar(select(exists().where(Consent.subject_id == subject_id)))
    return bool(has_consent) and not templates_needed(session, subject_id, now)


def _stored_photo(store: BlobStore, asset: Asset, subject_id: uuid.UUID) -> bytes:
    """The reference's bytes, read no further than the size recorded at upload, that hash to
    the recorded SHA-256; ``ReferencePortraitGone`` / ``ReferencePortraitAltered`` else."""
    try:
        with store.open(asset.storage_key) as source:
            data = source.read(asset.size_bytes + 1)
    except BlobMissing:
        raise _gone(asset, subject_id, "the service no longer holds its bytes") from None
    if len(data) != asset.size_bytes or hashlib.sha256(data).hexdigest() != asset.sha256:
        log.error("blob %s of reference portrait %s (subject %s) does not hash to the SHA-256 "
                  "recorded at upload: the blob store was altered or corrupted",
                  asset.storage_key, asset.id, subject_id)
        raise ReferencePortraitAltered(
            f"the stored copy of reference portrait {asset.id} is not the photo uploaded (its "
            f"bytes no longer hash to sha256 {asset.sha256}), so no encoding is derived from "
            "it and nothing was changed; an operator has been alerted. Register a new subject "
            "with a fresh photo (POST /v1/assets, then POST /v1/subjects)",
            asset_id=str(asset.id), subject_id=str(subject_id), sha256=asset.sha256)
    return data


def _gone(asset: Asset, subject_id: uuid.UUID, why: str) -> ReferencePortraitGone:
    return ReferencePortraitGone(
        f"reference portrait {asset.id} cannot be re-encoded: {why}. Register a new subject "
        "with a fresh photo (POST /v1/assets, then POST /v1/subjects)",
        asset_id=str(asset.id), subject_id=str(subject_id), sha256=asset.sha256)
