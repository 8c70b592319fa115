"""Consent rules: may this partner animate this person, for this purpose, from this portrait?

``gate.py`` holds the decision as pure rules over plain dataclasses (no database, no clock: the
caller passes ``now``) and the one-method interface a store implements to supply those facts
(the service's ``service.domain.gate``). Face matching compares dlib 128-D identity descriptors
(``model.face.identity``) against the subject's reference portraits, or against the face filmed
in a live capture with the capture check's own bands (``capture_match.py``).
"""

from policy.consent.capture_match import CaptureMatchBands, MatchVerdict
from policy.consent.gate import (
    DEFAULT_CAPTURE_BANDS,
    DEFAULT_FACE_THRESHOLD,
    ConsentDecision,
    ConsentFacts,
    ConsentFactsSource,
    ConsentState,
    FaceMatch,
    Reason,
    SubjectFacts,
    consent_gate,
    decide,
    match_face,
)

__all__ = [
    "DEFAULT_CAPTURE_BANDS", "DEFAULT_FACE_THRESHOLD", "CaptureMatchBands", "ConsentDecision",
    "ConsentFacts", "ConsentFactsSource", "ConsentState", "FaceMatch", "MatchVerdict", "Reason",
    "SubjectFacts", "consent_gate", "decide", "match_face",
]
