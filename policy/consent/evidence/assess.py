"""One decision over all the checks of one consent recording.

    clip + challenge + schedule (+ when the page showed each prompt) + the partner's reference
    encodings + screening inputs
      -> measure: faces (``faces.scan_faces``), speech (``speech.find_phrase``)
      -> checks: synthetic, spoken_script, face_match, liveness, prompts
      -> any check failed -> FAIL (with every failed check's reason); else any borderline ->
         REVIEW; else PASS

The captured face (median descriptor) is returned for the service to keep, encrypted, as the
subject's reference - also on REVIEW, never used before a decision grants the consent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from policy.consent.evidence.aligner import Aligner, aligner
from policy.consent.evidence.challenge import Challenge, tokens
from policy.consent.evidence.checks import (
    SILENT_DBFS, face_match, liveness, prompts, speech_level_db, spoken_script,
)
from policy.consent.evidence.faces import DESCRIPTOR_FRAMES, scan_faces
from policy.consent.evidence.schedule import PromptSchedule
from policy.consent.evidence.screening import ScreeningInputs, synthetic_check
from policy.consent.evidence.speech import PhraseFinding, find_phrase
from policy.consent.evidence.thresholds import CHECKS_VERSION, EvidenceThresholds
from policy.consent.evidence.types import (
    CheckResult, Decision, EvidenceClip, EvidenceReport, Reason,
)
from policy.consent.evidence.words import WORD_LIST


def assess(clip: EvidenceClip, challenge: Challenge, schedule: PromptSchedule, *,
           references: Sequence[np.ndarray], screening: ScreeningInputs, evidence_sha256: str,
           shown_at: Mapping[str, float] | None = None,
           thresholds: EvidenceThresholds = EvidenceThresholds(),
           speech_aligner: Aligner | None = None) -> EvidenceReport:
    """Run every check on a decoded recording (see module doc). ``references``: (128,) dlib
    encodings of the partner's portraits of the subject (may be empty). ``shown_at``: prompt
    id -> seconds, as the capture page reported them (None: the schedule's own times)."""
    scan = scan_faces(clip)
    finding = _find_phrase(clip, challenge, speech_aligner)
    shown = schedule.as_shown(dict(shown_at) if shown_at else None)
    speech = spoken_script(clip, finding, challenge.words, thresholds)
    checks = (
        synthetic_check(screening),
        speech,
        face_match(scan.reference, references, thresholds),
        liveness(scan, clip, speech.reason_code not in {"no_audio", "audio_silent"},
                 thresholds),
        prompts(scan, finding, shown, thresholds),
    )
    return EvidenceReport(
        decision=decide(checks), checks=checks, reasons=reasons(checks),
        reference_encoding=scan.reference, versions=versions(thresholds),
        evidence_sha256=evidence_sha256,
        spoken_words=() if finding is None else finding.spans)


def decide(checks: Sequence[CheckResult]) -> Decision:
    verdicts = {c.verdict for c in checks}
    if Decision.FAIL in verdicts:
        return Decision.FAIL
    return Decision.REVIEW if Decision.REVIEW in verdicts else Decision.PASS


def reasons(checks: Sequence[CheckResult]) -> tuple[Reason, ...]:
    """Failed checks' reasons first, then the borderline ones; one per code."""
    ordered = [c for c in checks if c.verdict == Decision.FAIL] + \
        [c for c in checks if c.verdict == Decision.REVIEW]
    seen: dict[str, Reason] = {}
    for check in ordered:
        if check.reason_code and check.reason_code not in seen:
            seen[check.reason_code] = Reason(check.reason_code, check.message)
    return tuple(seen.values())


def versions(thresholds: EvidenceThresholds) -> dict[str, Any]:
    """What produced a decision: stored beside it so a later change is traceable."""
    return {
        "checks": CHECKS_VERSION,
        "thresholds": thresholds.to_json(),
        "word_list_sha256": hashlib.sha256(" ".join(WORD_LIST).encode()).hexdigest(),
        "models": {
            "aligner": f"pocketsphinx/{_version('pocketsphinx')} en-us",
            "face": f"dlib/{_version('dlib-bin')} resnet_model_v1 + shape_predictor_68 "
                    f"(face-recognition-models/{_version('face-recognition-models')})",
            "descriptor_frames": DESCRIPTOR_FRAMES,
        },
    }


def _find_phrase(clip: EvidenceClip, challenge: Challenge,
                 speech_aligner: Aligner | None) -> PhraseFinding | None:
    if not clip.has_audio_track or len(clip.audio) == 0 \
            or speech_level_db(clip.audio, clip.sample_rate) < SILENT_DBFS:
        return None
    return find_phrase(speech_aligner or aligner(), clip.audio, clip.sample_rate,
                       tokens(challenge.statement), challenge.words)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
