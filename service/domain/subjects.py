"""Registering a subject (the person depicted): reference portraits (+ consent evidence) ->
a subject (and a pending consent awaiting a compliance officer).

Without evidence the subject has no consent yet: it comes from a consent request answered on
camera (``service.domain.consent_requests``) or, for a subject that is not a living person
able to consent, from an officer (``service.domain.nonliving``).

The partner first uploads the reference portraits (``POST /v1/assets``, kind portrait), then
registers the subject with their ids, the evidence (a signed form or a recorded statement) and
the scope it asks for. The references must be the partner's own unclaimed portraits of one
person: every pair within the face-match threshold.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from model.face.identity import identity_distance
from policy.errors import FaceMismatch
from service.audit.personal import seal_fields
from service.db.audit import AuditContext, record
from service.db.models import Asset, AssetKind, Consent, ConsentStatus, Subject
from service.db.types import utcnow
from service.domain.assets import (
    Owner, get_asset, new_asset_row, owned_subject, portrait_encodings,
)
from service.domain.face_templates import TemplateBox
from service.domain.uploads import ValidatedUpload
from service.errors import PurposeUnknown, RequestInvalid, StateConflict
from service.storage import BlobStore

MAX_REFERENCES = 5


@dataclass(frozen=True)
class SubjectRequest:
    """What the partner asks for. With evidence, ``purposes`` and ``expires_at`` (aware, in
    the future) are the scope asked for; without, they stay empty."""

    display_name: str
    external_ref: str | None
    reference_asset_ids: tuple[uuid.UUID, ...]
    purposes: frozenset[str] = frozenset()
    expires_at: datetime | None = None


def check_purposes(purposes: Iterable[str], vocabulary: Iterable[str]) -> frozenset[str]:
    """A non-empty set of purposes from the configured vocabulary."""
    chosen, known = frozenset(purposes), frozenset(vocabulary)
    if not chosen:
        raise RequestInvalid("name at least one purpose", field="purposes",
                             known=sorted(known))
    unknown = sorted(chosen - known)
    if unknown:
        raise PurposeUnknown(f"unknown purpose(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}", field="purposes", unknown=unknown,
                             known=sorted(known))
    return chosen


def check_expiry(expires_at: datetime, now: datetime) -> datetime:
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise RequestInvalid("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)",
                             field="expires_at")
    if expires_at <= now:
        raise RequestInvalid("expires_at is in the past", field="expires_at",
                             expires_at=expires_at.isoformat())
    return expires_at


def register_subject(session: Session, context: AuditContext, store: BlobStore, *,
                     owner: Owner, request: SubjectRequest, evidence: ValidatedUpload | None,
                     vocabulary: Iterable[str], face_threshold: float, box: TemplateBox | None,
                     now: datetime | None = None) -> tuple[Subject, Consent | None]:
    """``box`` opens the reference portraits' sealed encodings (the deployment's face
    template key)."""
    now = now or utcnow()
    if evidence is not None:
        purposes = check_purposes(request.purposes, vocabulary)
        if request.expires_at is None:
            raise RequestInvalid("expires_at is required with consent evidence",
                                 field="expires_at")
        check_expiry(request.expires_at, now)
    elif request.purposes or request.expires_at is not None:
        raise RequestInvalid("purposes and expires_at go with consent evidence; without it, "
                             "ask for consent with POST /v1/subjects/{id}/consent-requests",
                             field="evidence")
    name, ref = request.display_name.strip(), (request.external_ref or "").strip() or None
    if not 0 < len(name) <= 200:
        raise RequestInvalid("display_name must be 1-200 characters", field="display_name")
    if ref is not None and len(ref) > 200:
        raise RequestInvalid("external_ref must be at most 200 characters", field="external_ref")
    if ref is not None and session.scalar(select(Subject.id).where(
            Subject.organisation_id == owner.organisation_id, Subject.external_ref == ref)):
        raise StateConflict(f"a subject with external_ref {ref!r} exists", field="external_ref")
    references = _claim_references(session, box, owner, request.reference_asset_ids,
                                    face_threshold)
    subject = Subject(organisation_id=owner.organisation_id, display_name=name,
                      external_ref=ref, is_test=owner.is_test, created_at=now)
    session.add(subject)
    session.flush()
    for asset in references:
        asset.subject_id, asset.is_reference = subject.id, True
    session.flush()
    # The name and the partner's reference are personal: sealed under the subject's audit
    # key, which erasing the subject destroys (service.audit.personal).
    personal = seal_fields(session, context, f"subject:{subject.id}",
                           {"display_name": name, "external_ref": ref})
    record(session, context, "partner:subject:register", f"subject:{subject.id}", now=now,
           payload={**personal, "is_test": owner.is_test,
                    "organisation_id": str(owner.organisation_id),
                    "reference_asset_ids": [str(a.id) for a in references]})
    if evidence is None:
        return subject, None
    assert request.expires_at is not None  # checked above
    evidence_row = new_asset_row(store, owner, evidence, subject_id=subject.id, now=now)
    session.add(evidence_row)
    session.flush()
    consent = Consent(subject_id=subject.id, organisation_id=owner.organisation_id,
                      status=ConsentStatus.PENDING, purposes=sorted(purposes),
                      expires_at=request.expires_at, evidence_asset_id=evidence_row.id,
                      requested_at=now)
    session.add(consent)
    session.flush()
    record(session, context, "partner:consent:request", f"consent:{consent.id}", now=now,
           payload={"subject_id": str(subject.id), "purposes": consent.purposes,
                    "expires_at": request.expires_at.isoformat(),
                    "evidence_asset_id": str(evidence_row.id),
                    "evidence_sha256": evidence_row.sha256,
                    "evidence_kind": evidence_row.kind.value})
    return subject, consent


def get_subject(session: Session, owner: Owner,
                subject_id: uuid.UUID) -> tuple[Subject, list[Consent], list[Asset]]:
    """The owner's subject, its consents (newest first) and its reference portraits."""
    subject = owned_subject(session, owner, subject_id)
    consents = list(session.scalars(select(Consent).where(Consent.subject_id == subject_id)
                                    .order_by(Consent.requested_at.desc())))
    references = list(session.scalars(select(Asset).where(
        Asset.subject_id == subject_id, Asset.is_reference.is_(True)).order_by(Asset.id)))
    return subject, consents, references


def _claim_references(session: Session, box: TemplateBox | None, owner: Owner,
                      asset_ids: Sequence[uuid.UUID], threshold: float) -> list[Asset]:
    ids = list(dict.fromkeys(asset_ids))
    if not 0 < len(ids) <= MAX_REFERENCES:
        raise RequestInvalid(f"give 1-{MAX_REFERENCES} reference portrait asset ids",
                             field="reference_asset_ids", count=len(ids))
    assets = [get_asset(session, owner, asset_id) for asset_id in ids]
    for asset in assets:
        if asset.kind != AssetKind.PORTRAIT or asset.face_encoding is None:
            raise RequestInvalid(f"asset {asset.id} is not a portrait",
                                 field="reference_asset_ids", asset_id=str(asset.id))
        if asset.subject_id is not None:
            raise StateConflict(f"asset {asset.id} already belongs to subject "
                                f"{asset.subject_id}", field="reference_asset_ids",
                                asset_id=str(asset.id))
    encodings = portrait_encodings(box, assets)
    for a, b in itertools.combinations(assets, 2):
        distance = identity_distance(encodings[a.id], encodings[b.id])
        if distance > threshold:
            raise FaceMismatch(f"reference portraits {a.id} and {b.id} are not the same person "
                               f"(identity distance {distance:.3f} > threshold "
                               f"{threshold:.3f})", asset_ids=[str(a.id), str(b.id)],
                               distance=distance, threshold=threshold)
    return assets
