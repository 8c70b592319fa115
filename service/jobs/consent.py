"""The application's consent gate: ``policy.consent`` fed from the database, face match included.

``real_gate(settings)`` is what production wires everywhere a ``ConsentGate`` is needed: the
API asks it before writing a job, and every worker asks it again just before rendering (the
same object, so both stages apply the same rules and threshold). It reads two things the
upload already computed - the job portrait's 128-D identity encoding (``Asset.face_encoding``)
and the subject's reference encodings - so a check costs a few queries and no dlib call, and
the worker's re-check sees a revocation, expiry or review that happened while the job queued.
A subject verified by live capture is matched against its sealed face templates instead of
the partner's portraits (opened with the deployment's ``TemplateBox``), with the capture
check's bands rather than the photo-to-photo threshold (``capture_bands``: a portrait the
capture check would only have sent to an officer is refused ``face_match_review``), and a
consent's ``max_jobs`` is counted as the stage requires (``service.domain.gate``).

A portrait without an encoding (never validated, or not the partner's own) cannot be shown to
be the subject and is refused as ``face_mismatch``, the same code as a portrait of someone else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from policy.consent import (
    DEFAULT_CAPTURE_BANDS, CaptureMatchBands, ConsentDecision, FaceMatch, Reason,
)
from service.db.models import Asset, AssetKind
from service.domain.assets import decode_face
from service.domain.face_templates import TemplateBox
from service.domain.gate import check_consent
from service.jobs.gate import ConsentGate, GateRequest, GateStage
from service.settings import Settings


@dataclass(frozen=True)
class DatabaseConsentGate:
    """A ``ConsentGate``: consent rules + face match against the subject's references."""

    threshold: float  # photo to photo: dlib 128-D distance at or below which it is the subject
    templates: TemplateBox | None = None  # opens live-capture face templates
    # portrait to live-capture template: the evidence check's face bands
    capture_bands: CaptureMatchBands = DEFAULT_CAPTURE_BANDS

    def __call__(self, session: Session, request: GateRequest) -> ConsentDecision:
        portrait = session.get(Asset, request.portrait_asset_id, populate_existing=True)
        if (portrait is None or portrait.organisation_id != request.organisation_id
                or portrait.kind != AssetKind.PORTRAIT or portrait.face_encoding is None):
            return ConsentDecision(False, Reason.FACE_MISMATCH, "the portrait has no identity "
                                   "encoding to compare with the subject's references", None,
                                   FaceMatch(None, self.threshold))
        return check_consent(session, organisation_id=request.organisation_id,
                             subject_id=request.subject_id, purpose=request.purpose,
                             portrait_encoding=decode_face(portrait.face_encoding),
                             now=request.now, threshold=self.threshold,
                             capture_bands=self.capture_bands, templates=self.templates,
                             at_run=request.stage == GateStage.RUN)


def real_gate(settings: Settings) -> ConsentGate:
    """The gate for this deployment (``Settings.face_match_threshold``, its template key)."""
    return DatabaseConsentGate(settings.face_match_threshold, TemplateBox.from_settings(settings))
