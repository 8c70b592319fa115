"""The consent gate over the database: ``policy.consent``'s rules fed from the SQL tables.

``check_consent`` is what job submission calls, in its own transaction, before it writes the
job row: it reads the subject's consents and reference encodings and returns the policy's
``ConsentDecision`` (call ``raise_if_refused`` to turn a refusal into its ``ConsentError``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.consent import (
    DEFAULT_FACE_THRESHOLD,
    ConsentDecision,
    ConsentFacts,
    ConsentState,
    SubjectFacts,
    consent_gate,
)
from service.db.models import Consent, Subject
from service.domain.assets import reference_encodings


class SqlConsentFacts:
    """``policy.consent.ConsentFactsSource`` for a SQLAlchemy ``Session``."""

    def subject_facts(self, session: Session, subject_id: uuid.UUID) -> SubjectFacts | None:
        if session.get(Subject, subject_id) is None:
            return None
        consents = session.scalars(select(Consent).where(Consent.subject_id == subject_id))
        facts = tuple(
            ConsentFacts(consent_id=c.id, organisation_id=c.organisation_id,
                         state=ConsentState(c.status.value), purposes=frozenset(c.purposes),
                         expires_at=c.expires_at, requested_at=c.requested_at)
            for c in consents)
        return SubjectFacts(subject_id=subject_id, consents=facts,
                            reference_encodings=tuple(reference_encodings(session, subject_id)))


def check_consent(session: Session, *, organisation_id: uuid.UUID, subject_id: uuid.UUID,
                  purpose: str, portrait_encoding: np.ndarray, now: datetime,
                  threshold: float = DEFAULT_FACE_THRESHOLD) -> ConsentDecision:
    """May ``organisation_id`` animate ``subject_id`` for ``purpose`` from a portrait with this
    (128,) encoding at ``now``? Pass ``Settings.face_match_threshold`` as ``threshold``."""
    return consent_gate(SqlConsentFacts(), session, organisation_id=organisation_id,
                        subject_id=subject_id, purpose=purpose,
                        portrait_encoding=portrait_encoding, now=now, threshold=threshold)
