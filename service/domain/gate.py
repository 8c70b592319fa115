"""The consent gate over the database: ``policy.consent``'s rules fed from the SQL tables.

``check_consent`` is what job submission calls, in its own transaction, before it writes the
job row: it reads the subject's consents and reference encodings and returns the policy's
``ConsentDecision`` (call ``raise_if_refused`` to turn a refusal into its ``ConsentError``).

References: a subject verified by live capture is matched against its sealed face templates
only (``service.domain.face_templates``), with the capture check's bands
(``policy.consent.capture_match``: a portrait in the officer band is refused as
``face_match_review``); otherwise against the reference portraits the partner registered, at
the photo-to-photo ``threshold``. Jobs used under a consent's ``max_jobs``: at submission every
job that holds a place (queued, running or succeeded) counts, and the consent rows that carry a
limit are locked so two submissions cannot both take the last place; when a worker re-checks
before rendering, only the *other* finished jobs count (the job itself already holds its place).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from policy.consent import (
    DEFAULT_CAPTURE_BANDS,
    DEFAULT_FACE_THRESHOLD,
    CaptureMatchBands,
    ConsentDecision,
    ConsentFacts,
    ConsentState,
    SubjectFacts,
    consent_gate,
)
from service.db.models import Consent, Job, JobState, Subject
from service.domain.assets import reference_encodings
from service.domain.face_templates import TemplateBox, template_encodings

# Jobs that hold a place under max_jobs when a new one is submitted, and when one starts.
PLACE_AT_SUBMIT = (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED)
PLACE_AT_RUN = (JobState.SUCCEEDED,)


class SqlConsentFacts:
    """``policy.consent.ConsentFactsSource`` for a SQLAlchemy ``Session``.

    ``templates`` opens the sealed face encodings - live-capture templates and reference
    portraits (None: a subject that has some cannot be matched and ``KeysError`` says so);
    ``at_run`` counts jobs as a worker's re-check does."""

    def __init__(self, templates: TemplateBox | None = None, *, at_run: bool = False) -> None:
        self._templates = templates
        self._counted = PLACE_AT_RUN if at_run else PLACE_AT_SUBMIT

    def subject_facts(self, session: Session, subject_id: uuid.UUID) -> SubjectFacts | None:
        if session.get(Subject, subject_id) is None:
            return None
        consents = list(session.scalars(select(Consent).where(Consent.subject_id == subject_id)))
        used = self._jobs_used(session, [c.id for c in consents if c.max_jobs is not None])
        facts = tuple(
            ConsentFacts(consent_id=c.id, organisation_id=c.organisation_id,
                         state=ConsentState(c.status.value), purposes=frozenset(c.purposes),
                         expires_at=c.expires_at, requested_at=c.requested_at,
                         max_jobs=c.max_jobs, jobs_used=used.get(c.id, 0))
            for c in consents)
        templates = template_encodings(session, self._templates, subject_id)
        references = templates if templates is not None \
            else reference_encodings(session, self._templates, subject_id)
        return SubjectFacts(subject_id=subject_id, consents=facts,
                            reference_encodings=tuple(references),
                            references_from_capture=templates is not None)

    def _jobs_used(self, session: Session, limited: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        ids = list(limited)
        if not ids:
            return {}
        # Serialise submissions against a limited consent (SQLite's write lock already does).
        session.execute(select(Consent.id).where(Consent.id.in_(ids)).with_for_update())
        rows = session.execute(
            select(Job.consent_id, func.count()).where(Job.consent_id.in_(ids),
                                                       Job.state.in_(self._counted))
            .group_by(Job.consent_id)).all()
        return {consent_id: count for consent_id, count in rows}


def check_consent(session: Session, *, organisation_id: uuid.UUID, subject_id: uuid.UUID,
                  purpose: str, portrait_encoding: np.ndarray, now: datetime,
                  threshold: float = DEFAULT_FACE_THRESHOLD,
                  capture_bands: CaptureMatchBands = DEFAULT_CAPTURE_BANDS,
                  templates: TemplateBox | None = None, at_run: bool = False) -> ConsentDecision:
    """May ``organisation_id`` animate ``subject_id`` for ``purpose`` from a portrait with this
    (128,) encoding at ``now``? Pass ``Settings.face_match_threshold`` as ``threshold`` (photo
    to photo) and the deployment's ``TemplateBox`` as ``templates``; ``capture_bands`` judge
    the portrait against live-capture templates."""
    return consent_gate(SqlConsentFacts(templates, at_run=at_run), session,
                        organisation_id=organisation_id, subject_id=subject_id,
                        purpose=purpose, portrait_encoding=portrait_encoding, now=now,
                        threshold=threshold, capture_bands=capture_bands)
