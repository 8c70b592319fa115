"""Every consent-recording case, end to end: file -> decode -> screening -> assess -> decision.

The clips are the project's model animating real photographs with espeak-ng reading the
script (``tests.consent_clips``); built once per session (~1 min on two cores).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from policy.consent.evidence import (
    CHECKS_VERSION, Decision, EvidenceReport, PromptKind, assess, screening_inputs,
)
from policy.provenance import SigningIdentity
from policy.watermark import WatermarkKey
from service.errors import VideoUnreadable
from service.media.evidence import decode_evidence
from tests.consent_clips import ConsentClips

pytestmark = pytest.mark.slow

EXPECTED = {  # case -> (decision, the reason that must be among the reasons)
    "genuine": (Decision.PASS, None),
    "wrong_person": (Decision.FAIL, "face_mismatch"),
    "wrong_words": (Decision.FAIL, "wrong_words"),
    "missing_words": (Decision.FAIL, "missing_words"),
    "still_photo": (Decision.FAIL, "still_image"),
    "watermarked": (Decision.FAIL, "synthetic_watermark"),
    "ai_manifest": (Decision.FAIL, "synthetic_manifest"),
    "two_faces": (Decision.FAIL, "multiple_faces"),
    "no_audio": (Decision.FAIL, "no_audio"),
    "silent_audio": (Decision.FAIL, "audio_silent"),
    "prompts_ignored": (Decision.FAIL, "prompts_not_followed"),
    "prompts_mistimed": (Decision.FAIL, "prompts_not_followed"),
    "prompts_swayed": (Decision.FAIL, "prompts_not_followed"),
}


def _assess(clips: ConsentClips, case: str, key: WatermarkKey,
            identity: SigningIdentity) -> EvidenceReport:
    path = clips.path(case, watermark_key=key, signing_identity=identity)
    decoded = decode_evidence(path)
    screening = screening_inputs(path, decoded.clip.frames, key)
    return assess(decoded.clip, clips.challenge, clips.schedule, references=clips.references,
                  screening=screening, evidence_sha256=decoded.sha256)


@pytest.mark.parametrize("case", list(EXPECTED))
def test_each_case_gets_the_right_decision_and_reason(
        consent_clips: ConsentClips, watermark_key: WatermarkKey,
        signing_identity: SigningIdentity, case: str) -> None:
    report = _assess(consent_clips, case, watermark_key, signing_identity)
    decision, reason = EXPECTED[case]
    summary = {c.name: (c.verdict.value, c.reason_code, c.score) for c in report.checks}
    assert report.decision == decision, summary
    if reason is None:
        assert report.reasons == ()
    else:
        assert reason in report.reason_codes, summary
        assert all(r.message for r in report.reasons)


def test_a_passed_recording_yields_what_the_service_keeps(
        consent_clips: ConsentClips, watermark_key: WatermarkKey,
        signing_identity: SigningIdentity) -> None:
    report = _assess(consent_clips, "genuine", watermark_key, signing_identity)
    path = consent_clips.path("genuine")
    assert report.evidence_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.reference_encoding is not None
    assert report.reference_encoding.shape == (128,)
    assert report.reference_encoding.dtype == np.float32
    assert report.versions["checks"] == CHECKS_VERSION
    assert report.versions["thresholds"]["face_match"] > 0
    read = consent_clips.schedule.of_kind(PromptKind.READ_WORDS)[0]
    assert [w for w, _, _ in report.spoken_words] == list(consent_clips.challenge.words)
    assert all(read.at_seconds <= start < end <= read.window[1]
               for _, start, end in report.spoken_words)


def test_prompts_are_judged_at_the_times_the_page_reports(
        consent_clips: ConsentClips, watermark_key: WatermarkKey,
        signing_identity: SigningIdentity) -> None:
    """The genuine clip turned when the schedule said; a page claiming it showed the first
    prompt 3 s later makes that turn early, i.e. not a response to the prompt."""
    path = consent_clips.path("genuine")
    decoded = decode_evidence(path)
    first = consent_clips.schedule.prompts[0]
    report = assess(decoded.clip, consent_clips.challenge, consent_clips.schedule,
                    references=consent_clips.references,
                    screening=screening_inputs(path, decoded.clip.frames, watermark_key),
                    evidence_sha256=decoded.sha256,
                    shown_at={first.id: first.at_seconds + 3.0})
    assert report.check("prompts").details["outcomes"][first.id] == "missed"
    assert report.decision != Decision.PASS


def test_a_corrupt_file_is_refused_with_a_code(consent_clips: ConsentClips) -> None:
    with pytest.raises(VideoUnreadable) as caught:
        decode_evidence(consent_clips.path("corrupt"))
    assert caught.value.code == "video_unreadable"
    assert caught.value.context["reason"] in {"not_a_container", "no_video_stream", "corrupt"}
