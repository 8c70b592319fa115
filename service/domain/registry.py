"""The provenance registry: every released video's watermark asset id -> its record.

The worker writes a job's artifact row when the job succeeds; ``register_artifact`` is the
same for videos released elsewhere (``likeness generate`` on the operator's machine), with
its audit event. A verifier looks a detected asset id (or, failing a mark, the file's exact
SHA-256) up with ``lookup_artifact`` and learns who issued it, when, and whether the consent
behind it still stands *now* - a consent revoked after release changes the answer. Revocation
also flags every artifact made under the consent (``Artifact.consent_revoked_at``, set by
``service.domain.revocation``), so the answer holds even when the consent row is out of view;
``consent_notice`` words it for people ("consent revoked on 2026-11-25").

What a caller is shown is decided by the route (``service.api.routes.verify``): the public
record leaves out the partner and the subject.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import (
    Artifact,
    Consent,
    ConsentStatus,
    Job,
    Organisation,
    Subject,
)
from service.db.types import utcnow
from service.errors import RequestInvalid, StateConflict

ASSET_ID = re.compile(r"[0-9a-f]{14}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class ConsentStanding(enum.StrEnum):
    ACTIVE = "active"  # approved and not expired
    REVOKED = "revoked"  # revoked (or otherwise no longer approved)
    EXPIRED = "expired"  # approved, but its expiry has passed
    NONE = "none"  # no consent on record (an operator's own release)


class MatchedBy(enum.StrEnum):
    ASSET_ID = "asset_id"  # the watermark (or the manifest) named the asset
    SHA256 = "sha256"  # the exact bytes of a registered file


@dataclass(frozen=True)
class RegistryRecord:
    artifact: Artifact
    organisation: Organisation | None
    subject: Subject | None
    consent: Consent | None
    standing: ConsentStanding
    matched_by: MatchedBy
    # When the consent was revoked (the artifact's flag, else the consent's own record).
    revoked_at: datetime | None = None
    expired_at: datetime | None = None

    @property
    def notice(self) -> str | None:
        """One line for people when the consent no longer stands; None while it does."""
        return consent_notice(self.standing, self.revoked_at, self.expired_at)


def consent_notice(standing: ConsentStanding, revoked_at: datetime | None,
                   expired_at: datetime | None) -> str | None:
    if standing == ConsentStanding.REVOKED:
        return ("consent revoked" if revoked_at is None
                else f"consent revoked on {revoked_at.date().isoformat()}")
    if standing == ConsentStanding.EXPIRED and expired_at is not None:
        return f"consent expired on {expired_at.date().isoformat()}"
    return None


def check_asset_id(asset_id: str) -> str:
    value = asset_id.strip().lower()
    if not ASSET_ID.fullmatch(value):
        raise RequestInvalid("an asset id is 14 hexadecimal digits", field="asset_id")
    return value


def consent_standing(consent: Consent | None, now: datetime) -> ConsentStanding:
    if consent is None:
        return ConsentStanding.NONE
    if consent.status != ConsentStatus.APPROVED:
        return ConsentStanding.REVOKED
    if consent.expires_at is not None and consent.expires_at <= now:
        return ConsentStanding.EXPIRED
    return ConsentStanding.ACTIVE


def register_artifact(session: Session, asset_id: str, sha256: str, job: Job | None = None,
                      organisation: Organisation | None = None, subject: Subject | None = None,
                      consent: Consent | None = None, is_test: bool = False, *,
                      created_by: AuditContext, now: datetime | None = None) -> Artifact:
    """Record a released video. With a ``job``, its organisation, subject and consent apply."""
    now = now or utcnow()
    asset_id = check_asset_id(asset_id)
    if not SHA256.fullmatch(sha256):
        raise RequestInvalid("sha256 must be 64 lowercase hex digits", field="sha256")
    org_id, subject_id, consent_id = _parties(job, organisation, subject, consent)
    if session.scalar(select(Artifact.id).where(Artifact.asset_id == asset_id)) is not None:
        raise StateConflict(f"asset {asset_id} is already registered", asset_id=asset_id)
    artifact = Artifact(asset_id=asset_id, job_id=None if job is None else job.id,
                        organisation_id=org_id, subject_id=subject_id, consent_id=consent_id,
                        sha256=sha256, is_test=job.is_test if job is not None else is_test,
                        created_at=now)
    session.add(artifact)
    session.flush()
    record(session, created_by, "registry:artifact:register", f"artifact:{asset_id}", now=now,
           payload={"sha256": sha256, "job_id": _str(artifact.job_id),
                    "organisation_id": _str(org_id), "subject_id": _str(subject_id),
                    "consent_id": _str(consent_id), "is_test": artifact.is_test})
    return artifact


def _parties(job: Job | None, organisation: Organisation | None, subject: Subject | None,
             consent: Consent | None) -> tuple[uuid.UUID | None, ...]:
    """(organisation, subject, consent) ids; given both ways, the job's must agree."""
    given = tuple(None if row is None else row.id for row in (organisation, subject, consent))
    if job is None:
        return given
    from_job = (job.organisation_id, job.subject_id, job.consent_id)
    if any(g is not None and g != j for g, j in zip(given, from_job, strict=True)):
        raise RequestInvalid("the organisation, subject or consent given differ from the job's",
                             job_id=str(job.id))
    return from_job


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def lookup_artifact(session: Session, *, asset_id: str | None = None,
                    sha256: str | None = None, now: datetime | None = None
                    ) -> RegistryRecord | None:
    """The record for ``asset_id``, else for a file whose exact bytes were registered."""
    artifact, matched = None, MatchedBy.ASSET_ID
    if asset_id is not None:
        artifact = session.scalar(select(Artifact).where(Artifact.asset_id == asset_id))
    if artifact is None and sha256 is not None:
        artifact = session.scalar(select(Artifact).where(Artifact.sha256 == sha256)
                                  .order_by(Artifact.created_at).limit(1))
        matched = MatchedBy.SHA256
    if artifact is None:
        return None
    consent = None if artifact.consent_id is None else session.get(Consent, artifact.consent_id)
    standing = consent_standing(consent, now or utcnow())
    revoked_at = artifact.consent_revoked_at or (consent.revoked_at if consent else None)
    if artifact.consent_revoked_at is not None:
        standing = ConsentStanding.REVOKED  # the registry's flag outranks anything else
    return RegistryRecord(
        artifact=artifact,
        organisation=None if artifact.organisation_id is None
        else session.get(Organisation, artifact.organisation_id),
        subject=None if artifact.subject_id is None else session.get(Subject, artifact.subject_id),
        consent=consent, standing=standing, matched_by=matched,
        revoked_at=revoked_at if standing == ConsentStanding.REVOKED else None,
        expired_at=consent.expires_at if consent is not None
        and standing == ConsentStanding.EXPIRED else None)


def record_disclosure(session: Session, context: AuditContext, found: RegistryRecord,
                      now: datetime | None = None) -> None:
    """Audit that a caller was shown who made and who is in a video."""
    record(session, context, "registry:artifact:disclose", f"artifact:{found.artifact.asset_id}",
           now=now or utcnow(), payload={"matched_by": found.matched_by.value,
                                         "organisation_id": _str(found.artifact.organisation_id),
                                         "subject_id": _str(found.artifact.subject_id)})


def annotate_verdict(document: dict[str, Any], found: RegistryRecord | None) -> None:
    """Tell a verifier, in the verdict itself, when the consent behind a video no longer
    stands: ``verdict.consent_notice`` (null while it stands or when the file is not in the
    registry) and the same words appended to ``verdict.text``."""
    notice = None if found is None else found.notice
    document["verdict"]["consent_notice"] = notice
    if notice is not None:
        document["verdict"]["text"] = f"{document['verdict']['text']} — {notice}"
