"""Each check's rule on measurements made to order (the clip tests run them on real clips)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from policy.consent.evidence import (
    CheckResult, Decision, EvidenceClip, EvidenceThresholds, PromptKind, ScreeningInputs,
    decide, new_prompt_schedule, synthetic_check,
)
from policy.consent.evidence.assess import reasons
from policy.consent.evidence.checks import face_match, liveness, prompts, spoken_script
from policy.consent.evidence.faces import FaceScan
from policy.consent.evidence.speech import PhraseFinding
from policy.provenance import ManifestReport
from policy.watermark import WatermarkDetection, WatermarkPayload

T = EvidenceThresholds()
FPS = 12.5
SCHEDULE = new_prompt_schedule(random.Random(5), 12.0)
TIMES = np.arange(int(12.0 * FPS)) / FPS
PHRASE = ("mango", "tulip", "napkin", "bicycle")


def _scan(yaw: np.ndarray | None = None, aperture: np.ndarray | None = None,
          counts: int = 1, descriptors: np.ndarray | None = None) -> FaceScan:
    n = len(TIMES)
    return FaceScan(
        timestamps=TIMES, found=np.ones(n, bool),
        aperture=np.zeros(n) if aperture is None else aperture,
        yaw=np.zeros(n) if yaw is None else yaw,
        detection_times=TIMES[::12], face_counts=np.full(len(TIMES[::12]), counts),
        descriptor_times=TIMES[::30],
        descriptors=np.zeros((5, 128), np.float32) if descriptors is None else descriptors)


def _turns(scale: dict[str, float] | None = None, shift: float = 0.0) -> np.ndarray:
    """Yaw with a raised-cosine turn inside each turn prompt's window (or ``shift`` s off)."""
    yaw = np.zeros(len(TIMES))
    for p in SCHEDULE.prompts:
        if p.kind == PromptKind.READ_WORDS:
            continue
        start, end = p.at_seconds + 0.3 + shift, p.at_seconds + p.window_seconds - 0.2 + shift
        inside = (TIMES >= start) & (TIMES <= end)
        phase = (TIMES[inside] - start) / (end - start)
        amplitude = 0.35 * (scale or {}).get(p.id, 1.0)
        yaw[inside] += p.expected_yaw_sign * amplitude * 0.5 * (1 - np.cos(2 * np.pi * phase))
    return yaw


def _finding(at: float | None = None, scores: tuple[float, ...] = (0.0, -3.0, -1.0, -8.0),
             heard: tuple[str, ...] = PHRASE) -> PhraseFinding:
    read = SCHEDULE.of_kind(PromptKind.READ_WORDS)[0]
    start = read.at_seconds + 0.5 if at is None else at
    spans = tuple((w, start + 0.5 * i, start + 0.5 * i + 0.4) for i, w in enumerate(PHRASE))
    return PhraseFinding(True, spans, heard, scores, 1.0, PHRASE)


def test_prompts_followed_in_their_windows_pass() -> None:
    result = prompts(_scan(_turns()), _finding(), SCHEDULE, T)
    assert result.passed and result.score == 1.0


def test_one_half_done_turn_goes_to_an_officer() -> None:
    # a still head: 0.1 rad is needed, 0.08 is "partly"; this one peaks at 0.0875
    result = prompts(_scan(_turns({"p1": 0.25})), _finding(), SCHEDULE, T)
    assert result.verdict == Decision.REVIEW and result.reason_code == "prompts_partly_met"
    assert result.details["turn_needed_rad"] == pytest.approx(0.1)
    assert result.details["outcomes"]["p1"] == "partly"


def _sway(amplitude: float, period: float = 3.2, phase: float = 0.4) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * (TIMES + phase) / period)


def test_a_small_turn_counts_when_the_head_is_otherwise_still() -> None:
    """A turn of 0.14 rad (8 degrees) stands out from a head that sways 0.03 rad when not
    asked to turn."""
    yaw = _turns({"p1": 0.4, "p2": 0.4}) + _sway(0.03, period=1.1)
    result = prompts(_scan(yaw), _finding(), SCHEDULE, T)
    assert result.passed, result.details
    assert 0.025 <= result.details["sway_rad"] <= 0.035


@pytest.mark.parametrize("amplitude", [0.1, 0.2, 0.35])
def test_a_head_swaying_throughout_does_not_meet_the_turns(amplitude: float) -> None:
    """Made in advance, swaying side to side: some sway meets each window by chance, but
    the head moves as much when nobody asked."""
    for phase in (0.0, 0.8, 1.6, 2.4):
        result = prompts(_scan(_sway(amplitude, phase=phase)), _finding(), SCHEDULE, T)
        assert result.verdict == Decision.FAIL, (phase, result.details)
        assert result.reason_code == "prompts_not_followed"


def test_one_turn_outside_the_reported_windows_does_not_sink_the_other() -> None:
    """The page reports one prompt late (it lagged): that turn now lies where the sway is
    measured, but one look away does not make the head a swaying one - the other turn still
    counts and an officer decides."""
    late = SCHEDULE.as_shown({"p1": SCHEDULE.prompts[2].at_seconds})
    result = prompts(_scan(_turns() + _sway(0.02, period=1.1)), _finding(), late, T)
    assert result.verdict == Decision.REVIEW, result.details
    assert result.details["outcomes"] == {"p1": "missed", "p2": "met", "p3": "met"}


def test_real_turns_by_a_swaying_person_still_pass() -> None:
    yaw = _turns({"p1": 1.6, "p2": 1.6}) + _sway(0.1)
    result = prompts(_scan(yaw), _finding(), SCHEDULE, T)
    assert result.passed, result.details


@pytest.mark.parametrize("yaw", [
    np.zeros(len(TIMES)),  # no turns at all
    -_turns(),  # each turn the wrong way
    _turns(shift=-2.2),  # each turn before it was asked for (a clip made in advance)
], ids=["ignored", "wrong_way", "anticipated"])
def test_prompts_not_followed_fail(yaw: np.ndarray) -> None:
    result = prompts(_scan(yaw), _finding(), SCHEDULE, T)
    assert result.verdict == Decision.FAIL and result.reason_code == "prompts_not_followed"


def test_words_read_before_being_shown_fail_the_prompts() -> None:
    read = SCHEDULE.of_kind(PromptKind.READ_WORDS)[0]
    result = prompts(_scan(_turns()), _finding(at=read.at_seconds - 3.0), SCHEDULE, T)
    assert result.reason_code == "prompts_not_followed"
    assert result.details["outcomes"][read.id] == "missed"


def test_the_page_reported_times_are_the_ones_checked() -> None:
    late = SCHEDULE.as_shown({"p1": SCHEDULE.prompts[0].at_seconds + 3.0})
    assert not prompts(_scan(_turns()), _finding(), late, T).passed


@pytest.mark.parametrize(("scores", "heard", "verdict", "code"), [
    ((0.0, -3.0, -1.0, -8.0), PHRASE, Decision.PASS, None),
    ((0.0, -3.0, -1.0, -8.0), ("mango", "pony", "cloud", "rope"), Decision.REVIEW,
     "words_unclear"),  # scores fine, but the recogniser heard too few of the words
    ((0.0, -35.0, -1.0, -8.0), PHRASE, Decision.REVIEW, "words_unclear"),
    ((-60.0, -80.0, -50.0, -70.0), ("pony", "cloud", "rope", "snow"), Decision.FAIL,
     "wrong_words"),
    ((-2.0, -90.0, -3.0, -120.0), ("mango", "napkin"), Decision.FAIL, "missing_words"),
])
def test_the_spoken_script_rule(scores: tuple[float, ...], heard: tuple[str, ...],
                                verdict: Decision, code: str | None) -> None:
    clip = _clip(_speech())
    result = spoken_script(clip, _finding(scores=scores, heard=heard), PHRASE, T)
    assert (result.verdict, result.reason_code) == (verdict, code)


@pytest.mark.parametrize(("heard", "code"), [
    ((), "words_not_spoken"), (("mango", "napkin"), "missing_words"),
    (("pony", "cloud", "rope", "snow"), "wrong_words"),
])
def test_a_phrase_not_found_says_what_was_heard(heard: tuple[str, ...], code: str) -> None:
    finding = PhraseFinding(False, (), heard, (), 0.0, PHRASE)
    assert spoken_script(_clip(_speech()), finding, PHRASE, T).reason_code == code


def test_no_sound_is_its_own_reason() -> None:
    silent = _clip(np.zeros(16_000 * 12, np.float32))
    assert spoken_script(silent, None, PHRASE, T).reason_code == "audio_silent"
    mute = replace(silent, has_audio_track=False)
    assert spoken_script(mute, None, PHRASE, T).reason_code == "no_audio"


@pytest.mark.parametrize(("distance", "verdict", "code"), [
    (0.30, Decision.PASS, None), (0.60, Decision.REVIEW, "face_match_unsure"),
    (0.80, Decision.FAIL, "face_mismatch"),
])
def test_face_match_bands(distance: float, verdict: Decision, code: str | None) -> None:
    reference = np.zeros(128, np.float32)
    other = np.zeros(128, np.float32)
    other[0] = distance
    result = face_match(reference, [np.ones(128, np.float32), other], T)
    assert result.score == pytest.approx(distance)
    assert (result.verdict, result.reason_code) == (verdict, code)


def test_without_references_the_capture_becomes_the_reference() -> None:
    assert face_match(np.zeros(128, np.float32), [], T).passed
    assert face_match(None, [np.zeros(128, np.float32)], T).reason_code == "no_face"


def test_a_mouth_that_follows_the_voice_is_live() -> None:
    audio = _speech()
    clip = _clip(audio)
    from policy.consent.evidence.checks import frame_envelope

    aperture = 0.3 * frame_envelope(clip)
    assert liveness(_scan(aperture=aperture), clip, True, T).passed
    still = liveness(_scan(aperture=np.full(len(TIMES), 0.05)), clip, True, T)
    assert still.reason_code == "still_image"
    shuffled = np.random.default_rng(0).permutation(aperture)
    assert liveness(_scan(aperture=shuffled), clip, True, T).verdict != Decision.PASS


def test_two_faces_no_face_and_a_change_of_person_fail() -> None:
    clip = _clip(_speech())
    assert liveness(_scan(counts=2), clip, True, T).reason_code == "multiple_faces"
    nobody = replace(_scan(), found=np.zeros(len(TIMES), bool))
    assert liveness(nobody, clip, True, T).reason_code == "no_face"
    switch = np.zeros((6, 128), np.float32)
    switch[3:, 0] = 0.8
    assert liveness(_scan(descriptors=switch), clip, True, T).reason_code == "identity_switch"
    one_odd_frame = np.zeros((6, 128), np.float32)
    one_odd_frame[2, 0] = 0.8
    assert liveness(_scan(descriptors=one_odd_frame), clip, True, T).reason_code != \
        "identity_switch"


def _detection(found: bool) -> WatermarkDetection:
    payload = WatermarkPayload(asset_id=0x123456789ABCDE, version=1) if found else None
    return WatermarkDetection(found, payload, 0.999 if found else 0.1, 1e-9 if found else 0.5, 25)


@pytest.mark.parametrize(("manifest", "mark", "code"), [
    (ManifestReport.absent(), _detection(False), None),
    (None, None, None),
    (ManifestReport.absent(), _detection(True), "synthetic_watermark"),
    (replace(ManifestReport.absent(), state="Valid", ai_generated=True), _detection(False),
     "synthetic_manifest"),
    (replace(ManifestReport.absent(), state="Invalid", ai_generated=True), None,
     "synthetic_manifest"),
])
def test_synthetic_screening(manifest: ManifestReport | None,
                             mark: WatermarkDetection | None, code: str | None) -> None:
    result = synthetic_check(ScreeningInputs(manifest, mark))
    assert result.reason_code == code and result.passed == (code is None)


def test_the_decision_takes_the_worst_check_and_lists_failures_first() -> None:
    ok = CheckResult("a", 1.0, 0.5, True, False, None, "fine")
    unsure = CheckResult("b", 0.5, 0.5, False, True, "face_match_unsure", "close")
    bad = CheckResult("c", 0.0, 0.5, False, False, "wrong_words", "other words")
    assert decide([ok, ok]) == Decision.PASS
    assert decide([ok, unsure]) == Decision.REVIEW
    assert decide([unsure, bad, ok]) == Decision.FAIL
    assert [r.code for r in reasons([unsure, bad, ok, bad])] == ["wrong_words",
                                                                  "face_match_unsure"]


def _speech() -> np.ndarray:
    """12 s of syllable-like bursts (4 Hz) with pauses: loudness that comes and goes."""
    t = np.arange(16_000 * 12) / 16_000
    bursts = (np.sin(2 * np.pi * 2.0 * t) > 0.2) & ((t % 3.0) < 2.2)
    noise = np.random.default_rng(1).normal(0, 0.2, len(t))
    return (noise * bursts).astype(np.float32)


def _clip(audio: np.ndarray) -> EvidenceClip:
    frame = np.zeros((96, 96, 3), np.uint8)
    return EvidenceClip(tuple([frame] * len(TIMES)), TIMES, audio, 16_000)
