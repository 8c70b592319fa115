"""The application's consent gate: ``policy.consent`` fed from the database, face match included.

``real_gate(settings)`` is what production wires everywhere a ``ConsentGate`` is needed: the
API asks it before writing a job, and every worker asks it again just before rendering (the
same object, so both stages apply the same rules and threshold). It reads two things the
upload already computed - the job portrait's 128-D identity encoding (``Asset.face_encoding``)
and the subject's reference encodings, all sealed and opened with the deployment's
``TemplateBox`` - so a check costs a few queries and no dlib call, and the worker's re-check
sees a revocation, expiry or review that happened while the job queued. A subject verified by
live capture is matched against its sealed face templates instead of the partner's portraits,
with the capture check's bands rather than the photo-to-photo threshold (``capture_bands``: a
portrait the capture check would only have sent to an officer is refused
``face_match_review`` and filed for an officer's review at submission; once an officer accepts
that portrait asset it passes, at submission and at run, while the consent it was filed under
covers the request: ``service.domain.portrait_reviews``), and a consent's ``max_jobs`` is
counted as the stage requires (``service.domain.gate``).

A portrait without an encoding (never validated, or not the partner's own) cannot be shown to
be the subject and is refused as ``face_mismatch``, the same code as a portrait of someone else;
so is one whose sealed encoding does not open while the configured keys open the subject's
references (a ciphertext altered or copied from another row; an envelope that names the key
that sealed it and fails under that key is such a row without asking the references). When the
keys open neither, the key is wrong or missing - an operator's error, raised as
``SealingKeyMismatch`` (503) rather than refusing every job. A reference of the subject that
does not open while others do is ``SubjectReferenceUnreadable`` (409, naming the asset the
partner has re-encoded: ``service.domain.references``), never a job matched against fewer
references.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from policy.consent import (
    DEFAULT_CAPTURE_BANDS, CaptureMatchBands, ConsentDecision, FaceMatch, Reason,
)
from service.db.models import Asset, AssetKind
from service.domain.assets import portrait_encoding, reference_encodings
from service.domain.face_templates import TemplateBox, template_encodings
from service.domain.gate import check_consent
from service.domain.portrait_reviews import BandMatch, reviewed_decision
from service.errors import SealedValueUnreadable, SealingKeyMismatch
from service.jobs.gate import ConsentGate, GateRequest, GateStage
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseConsentGate:
    """A ``ConsentGate``: consent rules + face match against the subject's references."""

    threshold: float  # photo to photo: dlib 128-D distance at or below which it is the subject
    # opens sealed face encodings: live-capture templates and portraits (None: none can open)
    templates: TemplateBox | None = None
    # portrait to live-capture template: the evidence check's face bands
    capture_bands: CaptureMatchBands = DEFAULT_CAPTURE_BANDS

    def __call__(self, session: Session, request: GateRequest) -> ConsentDecision:
        portrait = session.get(Asset, request.portrait_asset_id, populate_existing=True)
        if (portrait is None or portrait.organisation_id != request.organisation_id
                or portrait.kind != AssetKind.PORTRAIT or portrait.face_encoding is None):
            return self._no_encoding("the portrait has no identity encoding to compare with "
                                     "the subject's references")
        encoding = self._open(session, portrait, request.subject_id)
        if isinstance(encoding, str):
            return self._no_encoding(encoding)
        decision = check_consent(session, organisation_id=request.organisation_id,
                                 subject_id=request.subject_id, purpose=request.purpose,
                                 portrait_encoding=encoding, now=request.now,
                                 threshold=self.threshold,
                                 capture_bands=self.capture_bands, templates=self.templates,
                                 at_run=request.stage == GateStage.RUN)
        if decision.reason != Reason.FACE_MATCH_REVIEW or decision.consent_id is None \
                or decision.face is None or decision.face.distance is None:
            return decision
        # The officer band: an officer's review of this portrait decides (filed at submission).
        match = BandMatch(request.organisation_id, request.subject_id, decision.consent_id,
                          portrait, decision.face.distance, self.capture_bands)
        return reviewed_decision(session, match, decision,
                                 file=request.stage == GateStage.SUBMIT, now=request.now)

    def _open(self, session: Session, portrait: Asset,
              subject_id: uuid.UUID) -> np.ndarray | str:
        """The portrait's encoding, or why it cannot count as the subject's face."""
        try:
            return portrait_encoding(self.templates, portrait)
        except (SealingKeyMismatch, SealedValueUnreadable) as refused:
            if isinstance(refused, SealingKeyMismatch) or refused.undetermined:
                # Only this row is bad if the keys open the subject's own encodings (each
                # raises SealingKeyMismatch when they open none: a wrong key refuses no job in
                # silence).
                opened = template_encodings(session, self.templates, subject_id) or []
                opened += reference_encodings(session, self.templates, subject_id)
                if not opened:
                    raise SealingKeyMismatch(
                        "the configured face template keys open none of the face encodings of "
                        f"subject {subject_id}: {refused.message}",
                        subject_id=str(subject_id)) from None
            log.error("job portrait %s is refused: %s", portrait.id, refused.message)
            return f"the portrait's identity encoding cannot be used: {refused.message}"

    def _no_encoding(self, why: str) -> ConsentDecision:
        return ConsentDecision(False, Reason.FACE_MISMATCH, why, None,
                               FaceMatch(None, self.threshold))


def real_gate(settings: Settings) -> ConsentGate:
    """The gate for this deployment (``Settings.face_match_threshold``, its template key)."""
    return DatabaseConsentGate(settings.face_match_threshold, TemplateBox.from_settings(settings))
