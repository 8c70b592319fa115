"""How close a photo must be to a face filmed in a live capture: one set of bands, two users.

A live capture's face (the median dlib 128-D descriptor of frames of a talking, turning,
compressed recording, ``policy.consent.evidence.faces``) reads further from a photograph of the
same person than two photographs do: 0.37-0.57 in ``reports/consent/checks.md`` against
0.34-0.42 photo to photo, different people 0.71+ either way. Two comparisons are of this kind:

- the evidence check: the captured face against the partner's reference portraits
  (``policy.consent.evidence.checks.face_match``);
- the consent gate: a job portrait against the subject's capture template - the very same
  descriptor, kept sealed after the consent is granted (``policy.consent.gate``).

Both use ``CaptureMatchBands``, so a portrait is judged as the capture itself was: at most
``pass_max`` is the same person, from ``refuse_from`` on it is someone else, and between is for
a compliance officer (the evidence check sends the consent to review; the gate refuses the job
with ``face_match_review`` rather than deciding alone). Photo-to-photo comparisons keep their own,
tighter threshold (``policy.consent.gate.DEFAULT_FACE_THRESHOLD``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

CAPTURE_FACE_MATCH = 0.6  # centre of the officer band (dlib 128-D distance)
CAPTURE_FACE_MARGIN = 0.05  # half-width of the band: <= 0.55 passes, >= 0.65 is refused


class MatchVerdict(enum.StrEnum):
    SAME = "same"  # the same person
    UNSURE = "unsure"  # a compliance officer compares
    DIFFERENT = "different"  # another person (or nothing to compare)


@dataclass(frozen=True)
class CaptureMatchBands:
    """The distance bands of a filmed face against a photo (see module doc)."""

    threshold: float = CAPTURE_FACE_MATCH
    margin: float = CAPTURE_FACE_MARGIN

    def __post_init__(self) -> None:
        if not (0.0 < self.margin < self.threshold < 2.0):
            raise ValueError(f"capture match bands need 0 < margin < threshold < 2, got "
                             f"threshold {self.threshold}, margin {self.margin}")

    @property
    def pass_max(self) -> float:
        return round(self.threshold - self.margin, 9)  # 0.6 - 0.05 is 0.5499999... in floats

    @property
    def refuse_from(self) -> float:
        return round(self.threshold + self.margin, 9)

    def verdict(self, distance: float | None) -> MatchVerdict:
        if distance is None:
            return MatchVerdict.DIFFERENT
        if distance <= self.pass_max:
            return MatchVerdict.SAME
        return MatchVerdict.UNSURE if distance < self.refuse_from else MatchVerdict.DIFFERENT
