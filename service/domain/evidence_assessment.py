"""Running the evidence checks on a stored consent recording, for the verification task.

    gather_inputs (a short transaction): the request's challenge, schedule, reported timeline,
        the evidence blob, and the subject's reference faces - its live templates if it has
        any, else the partner's reference portraits
    assess_request (no transaction open): copy the blob out (its SHA-256 checked), decode it
        (``service.media.evidence``), read its C2PA manifest, run ``policy.consent.evidence``'s
        ``assess`` -> an ``Assessment`` for ``service.domain.consent_decisions``

A recording that cannot be read at all is an assessment too: ``fail``, with the reason.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from model.errors import ModelError
from policy.errors import PolicyError
from service import keys
from service.db.models import Asset, ConsentRequest, ConsentRequestStatus, EvidenceSource
from service.domain.assets import reference_encodings
from service.domain.challenges import shown_at
from service.domain.consent_decisions import Assessment, CheckOutcome, Decision, ReasonOutcome
from service.domain.face_templates import TemplateBox, template_encodings
from service.errors import KeysMissing, StorageError, VideoUnreadable
from service.settings import Settings
from service.storage import BlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerificationInputs:
    """What the checks need, read in one short transaction. ``references``: (128,) float32
    encodings of the subject (templates or portraits)."""

    request_id: uuid.UUID
    source: EvidenceSource
    storage_key: str
    sha256: str
    media_type: str
    challenge: dict[str, Any]
    schedule: dict[str, Any]
    timeline: dict[str, Any] | None
    references: tuple[np.ndarray, ...] = field(repr=False)


def gather_inputs(session: Session, templates: TemplateBox,
                  request_id: uuid.UUID) -> VerificationInputs | None:
    """None when the request is not (or no longer) verifying."""
    request = session.get(ConsentRequest, request_id, populate_existing=True)
    if request is None or request.status != ConsentRequestStatus.VERIFYING \
            or request.evidence_asset_id is None:
        return None
    asset = session.get(Asset, request.evidence_asset_id)
    assert asset is not None  # a foreign key
    faces = template_encodings(session, templates, request.subject_id)
    references = faces if faces is not None else reference_encodings(session, templates,
                                                                     request.subject_id)
    return VerificationInputs(
        request.id, request.evidence_source or EvidenceSource.CAPTURE, asset.storage_key,
        asset.sha256, asset.media_type, dict(request.challenge),
        dict(request.prompt_schedule), request.prompt_timeline, tuple(references))


def assess_request(settings: Settings, blobs: BlobStore,
                   inputs: VerificationInputs) -> Assessment:
    """Decode the stored recording and run every check (the model-free part of a worker's
    time: decode, dlib faces, pocketsphinx, the watermark detector)."""
    from policy.consent.evidence.assess import assess
    from policy.consent.evidence.challenge import Challenge
    from policy.consent.evidence.schedule import PromptSchedule
    from policy.consent.evidence.screening import screening_inputs
    from service.media.evidence import decode_evidence

    try:
        with blobs.local_copy(inputs.storage_key) as path:
            decoded = decode_evidence(path, max_seconds=settings.max_capture_seconds)
            if decoded.sha256 != inputs.sha256:
                return unreadable(inputs.sha256, "evidence_altered", "the stored bytes do not "
                                  "hash to what was uploaded")
            screening = screening_inputs(path, decoded.clip.frames, _watermark_key(settings),
                                         keys.trust_anchors(settings))
        report = assess(decoded.clip, Challenge.from_json(inputs.challenge),
                        PromptSchedule.from_json(inputs.schedule), references=inputs.references,
                        screening=screening, evidence_sha256=decoded.sha256,
                        shown_at=shown_at(inputs.timeline))
    except VideoUnreadable as exc:
        return unreadable(inputs.sha256, "evidence_unreadable", exc.message)
    except StorageError as exc:
        return unreadable(inputs.sha256, "evidence_missing", exc.message)
    except (ModelError, PolicyError) as exc:
        return unreadable(inputs.sha256, exc.code, exc.message)
    return assessment_of(report)


def _watermark_key(settings: Settings):
    """The deployment's key; without one the screening says it did not look (and logs it)."""
    try:
        return keys.watermark_key(settings)
    except KeysMissing:
        log.warning("no watermark key: consent evidence is not screened for our watermark")
        return None


def unreadable(sha256: str, code: str, message: str) -> Assessment:
    """The assessment of evidence that could not be checked at all."""
    return Assessment(Decision.FAIL, (), (ReasonOutcome(code, f"the recording could not be "
                                                              f"checked: {message}"),),
                      {}, sha256)


def not_verified(sha256: str) -> Assessment:
    """The verification kept failing (see ``service.jobs.evidence``): an officer decides."""
    return Assessment(Decision.REVIEW, (), (ReasonOutcome(
        "verification_failed", "the automated checks could not run on this recording; a "
                               "compliance officer reviews it"),), {}, sha256)


def assessment_of(report: Any) -> Assessment:
    """``policy.consent.evidence.EvidenceReport`` -> what the decision stores."""
    checks = tuple(CheckOutcome(c.name, _finite(c.score), _finite(c.threshold), bool(c.passed),
                                c.verdict.value, None if c.passed else c.reason_code,
                                c.message) for c in report.checks)
    reasons = tuple(ReasonOutcome(r.code, r.message) for r in report.reasons)
    encoding = None if report.reference_encoding is None \
        else np.asarray(report.reference_encoding, np.float32)
    return Assessment(Decision(report.decision.value), checks, reasons,
                      _jsonable(dict(report.versions)), report.evidence_sha256, encoding)


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    """Versions as plain JSON (numpy scalars, tuples, non-finite floats made safe)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
