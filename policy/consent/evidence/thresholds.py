"""Every number a consent decision depends on, in one frozen value stored with each decision.

Each check has a pass threshold and a band around it that goes to a compliance officer instead
of being decided automatically. The values were chosen on the measurements in
``reports/consent/checks.md`` (``python -m benchmarks.consent_checks``); changing one changes
the decisions, so ``CHECKS_VERSION`` names the set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from policy.consent.capture_match import CAPTURE_FACE_MARGIN, CAPTURE_FACE_MATCH, CaptureMatchBands

CHECKS_VERSION = "consent-evidence/2"  # 2: turns against the sway, capture bands


@dataclass(frozen=True)
class EvidenceThresholds:
    """Scores and their meaning (see the checks' modules for how each is measured).

    face_match: dlib 128-D distance captured face (median over sampled frames) -> nearest
        reference portrait. Photo to photo the face_recognition test images give 0.34-0.42 for
        the same person and 0.76-0.91 for different people (the gate's 0.5 between portraits,
        ``policy.consent.gate``); a face filmed while talking and turning, then compressed,
        reads further from a photo: 0.37-0.57 for the same person in the benchmark, 0.71+ for
        different people. Hence 0.6 here, with ``face_match_margin`` 0.05 either side going to
        an officer: <= 0.55 passes, >= 0.65 fails (``reports/consent/checks.md`` has the
        false-accept / false-reject table).
    words_pass / words_fail: the spoken check's score is the worst phrase word's likelihood
        margin (0 = as good as anything on the word list, negative = something else was said).
        >= words_pass passes - if also ``words_recognised_min`` of the phrase words were heard
        by the word-list recogniser on its own -, < words_fail fails, between goes to an
        officer unless none of the words was recognised (then it fails).
    lip_sync_pass / lip_sync_fail: best Pearson r (lag within +-lip_sync_max_lag_s) between
        mouth opening and speech loudness. A still photo reads ~0.07; the benchmark's talking
        clips 0.72-0.85.
    mouth_motion_min: the mouth's opening must vary at least this much (std of inner-lip gap /
        inter-ocular distance from the first to the last loud frame): below it the mouth is
        still.
    face_present_min: share of frames with a tracked face; below it "no face".
    multiple_faces_max: share of detection samples with two confident faces; above it fails.
    identity_jump_max: dlib distance between the median face before and after any point of the
        clip; above it the person changed within the clip.
    turn_pass_rad / turn_sway_ratio / turn_partly_share: a turn prompt is met when the head
        yaw, from the rest pose towards the side asked, peaks inside the window at least
        ``max(turn_pass_rad, turn_sway_ratio * sway)`` - sway being the 75th percentile of the
        yaw's distance from the rest pose away from the turn windows (``checks.head_motion``) -
        and "partly met" (officer) from ``turn_partly_share`` of that. Measured on the
        benchmark's 84 clips: followed turns peak 0.14-0.37 rad (0.05-0.10 only where the
        renderer turns an already-turned photo further), at >= 5x the sway; clips ignoring the
        prompts peak <= 0.065 rad; clips swaying 0.2 rad throughout <= 0.24 rad at <= 1.7x
        their sway. 0.1 and 3 sit midway between (``reports/consent/checks.md``).
    words_early_s / words_late_s: slack around the read-the-words window.
    """

    face_match: float = CAPTURE_FACE_MATCH
    face_match_margin: float = CAPTURE_FACE_MARGIN
    words_pass: float = -30.0
    words_fail: float = -45.0
    words_recognised_min: float = 0.5
    lip_sync_pass: float = 0.3
    lip_sync_fail: float = 0.15
    lip_sync_max_lag_s: float = 0.24
    mouth_motion_min: float = 0.02
    face_present_min: float = 0.7
    multiple_faces_max: float = 0.2
    identity_jump_max: float = 0.55
    turn_pass_rad: float = 0.1
    turn_sway_ratio: float = 3.0
    turn_partly_share: float = 0.8
    words_early_s: float = 0.3
    words_late_s: float = 1.0

    def capture_bands(self) -> CaptureMatchBands:
        """The face-match bands, shared with the gate's template match
        (``policy.consent.capture_match``)."""
        return CaptureMatchBands(self.face_match, self.face_match_margin)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
