"""A job portrait against the subject's live-capture template: the capture check's own bands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from policy.consent import (
    DEFAULT_CAPTURE_BANDS,
    CaptureMatchBands,
    ConsentFacts,
    ConsentState,
    MatchVerdict,
    Reason,
    SubjectFacts,
    decide,
)
from policy.consent.evidence import Decision, EvidenceThresholds
from policy.consent.evidence.checks import face_match
from policy.errors import FaceMatchReview, FaceMismatch

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ORG = uuid.uuid4()
RNG = np.random.default_rng(11)
TEMPLATE = (RNG.normal(size=128) * 0.05).astype(np.float32)


def _near(distance: float) -> np.ndarray:
    direction = RNG.normal(size=128)
    return (TEMPLATE + distance * direction / np.linalg.norm(direction)).astype(np.float32)


def _decide(distance: float, *, from_capture: bool = True,
            references: tuple[np.ndarray, ...] = (TEMPLATE,)):
    consent = ConsentFacts(uuid.uuid4(), ORG, ConsentState.APPROVED, frozenset({"dubbing"}),
                           NOW + timedelta(days=1), NOW - timedelta(days=1))
    subject = SubjectFacts(uuid.uuid4(), (consent,), references,
                           references_from_capture=from_capture)
    return decide(subject, organisation_id=ORG, purpose="dubbing",
                  portrait_encoding=_near(distance), now=NOW, threshold=0.5)


def test_the_gate_uses_the_evidence_checks_bands() -> None:
    assert EvidenceThresholds().capture_bands() == DEFAULT_CAPTURE_BANDS
    bands = DEFAULT_CAPTURE_BANDS
    assert (bands.pass_max, bands.refuse_from) == pytest.approx((0.55, 0.65))
    assert bands.verdict(0.55) == MatchVerdict.SAME  # inclusive, as in the evidence check
    assert bands.verdict(0.551) == bands.verdict(0.649) == MatchVerdict.UNSURE
    assert bands.verdict(0.65) == bands.verdict(None) == MatchVerdict.DIFFERENT
    with pytest.raises(ValueError, match="margin"):
        CaptureMatchBands(0.6, 0.7)


@pytest.mark.parametrize(("distance", "evidence", "reason"), [
    (0.30, Decision.PASS, None),
    (0.53, Decision.PASS, None),  # a filmed face reads this far from a photo of the same person
    (0.57, Decision.REVIEW, Reason.FACE_MATCH_REVIEW),
    (0.63, Decision.REVIEW, Reason.FACE_MATCH_REVIEW),
    (0.67, Decision.FAIL, Reason.FACE_MISMATCH),
    (0.85, Decision.FAIL, Reason.FACE_MISMATCH),
])
def test_a_portrait_is_judged_as_the_capture_was(distance: float, evidence: Decision,
                                                 reason: Reason | None) -> None:
    """The same distance gets the same answer from the capture check (capture vs partner
    portrait) and from the gate (job portrait vs the capture's template)."""
    portrait = _near(distance)
    check = face_match(TEMPLATE, [portrait], EvidenceThresholds())
    assert check.verdict == evidence
    decision = _decide(distance)
    assert decision.reason == reason and decision.allowed == (reason is None)
    assert decision.face is not None
    assert decision.face.distance == pytest.approx(distance, abs=1e-4)


def test_the_officer_band_is_its_own_refusal() -> None:
    decision = _decide(0.6)
    assert decision.face.unsure and not decision.face.matched
    assert "compliance officer" in decision.message
    with pytest.raises(FaceMatchReview) as raised:
        decision.raise_if_refused()
    assert raised.value.code == "face_match_review"
    assert raised.value.context["threshold"] == pytest.approx(0.55)
    assert raised.value.context["review_below"] == pytest.approx(0.65)
    with pytest.raises(FaceMismatch):
        _decide(0.7).raise_if_refused()


def test_portraits_against_portraits_keep_the_photo_threshold() -> None:
    """Photo to photo there is no band: 0.5 (``DEFAULT_FACE_THRESHOLD``) decides alone."""
    assert _decide(0.45, from_capture=False).allowed
    refused = _decide(0.53, from_capture=False)
    assert refused.reason == Reason.FACE_MISMATCH and refused.face.review_below is None
    assert _decide(0.6, from_capture=False).reason == Reason.FACE_MISMATCH


def test_no_template_is_never_a_match() -> None:
    decision = _decide(0.1, references=())
    assert decision.reason == Reason.FACE_MISMATCH and decision.face.distance is None
