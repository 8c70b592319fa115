"""The officer-only path for subjects who are not living persons able to consent: a painting,
a synthetic face, a historical public-domain photograph.

Nobody can record a consent statement for them, so no check can grant it: a compliance officer
does, with a written justification (why this subject is what the category says, and why its
use is acceptable), recorded on the consent (``basis`` ``nonliving``) and in the audit chain
(``compliance:consent:grant_nonliving``). The scope is the officer's: purposes from the
vocabulary, an expiry, optionally a number of jobs. The partner is the subject's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from service.auth.users import require_role
from service.db.audit import AuditContext, record
from service.db.models import (
    Consent,
    ConsentBasis,
    ConsentStatus,
    NonlivingCategory,
    Role,
    Subject,
)
from service.db.types import utcnow
from service.domain.subjects import check_expiry, check_purposes
from service.errors import NotFound, RequestInvalid

MIN_JUSTIFICATION_CHARS = 40
MAX_JUSTIFICATION_CHARS = 4000
MAX_JOBS_LIMIT = 1_000_000


def grant_nonliving(session: Session, context: AuditContext, *, officer_id: uuid.UUID,
                    subject_id: uuid.UUID, category: NonlivingCategory, justification: str,
                    purposes: Iterable[str], expires_at: datetime, vocabulary: Iterable[str],
                    max_jobs: int | None = None, now: datetime | None = None) -> Consent:
    now = now or utcnow()
    require_role(session, officer_id, Role.COMPLIANCE_OFFICER)
    justification = check_justification(justification)
    granted = sorted(check_purposes(purposes, vocabulary))
    check_expiry(expires_at, now)
    if max_jobs is not None and not 0 < max_jobs <= MAX_JOBS_LIMIT:
        raise RequestInvalid(f"max_jobs must be 1-{MAX_JOBS_LIMIT}", field="max_jobs")
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"no subject {subject_id}", resource="subject", id=str(subject_id))
    consent = Consent(subject_id=subject.id, organisation_id=subject.organisation_id,
                      status=ConsentStatus.APPROVED, purposes=granted, expires_at=expires_at,
                      max_jobs=max_jobs, basis=ConsentBasis.NONLIVING,
                      nonliving_category=NonlivingCategory(category),
                      justification=justification, requested_at=now, reviewer_id=officer_id,
                      reviewed_at=now)
    session.add(consent)
    session.flush()
    record(session, context, "compliance:consent:grant_nonliving", f"consent:{consent.id}",
           now=now, payload={"officer_id": str(officer_id), "subject_id": str(subject.id),
                             "organisation_id": str(subject.organisation_id),
                             "category": consent.nonliving_category.value,
                             "justification": justification, "purposes": granted,
                             "expires_at": expires_at.isoformat(), "max_jobs": max_jobs})
    return consent


def check_justification(text: str) -> str:
    text = " ".join(text.split())
    if not MIN_JUSTIFICATION_CHARS <= len(text) <= MAX_JUSTIFICATION_CHARS:
        raise RequestInvalid(f"write a justification of {MIN_JUSTIFICATION_CHARS}-"
                             f"{MAX_JUSTIFICATION_CHARS} characters: why the subject is not a "
                             "living person who can consent, and why this use is acceptable",
                             field="justification", length=len(text),
                             min_length=MIN_JUSTIFICATION_CHARS)
    return text
