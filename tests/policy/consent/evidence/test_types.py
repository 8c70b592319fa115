"""Decoded evidence is validated on the way in: malformed arrays are ``EvidenceInvalid``."""

from __future__ import annotations

import numpy as np
import pytest

from policy.consent.evidence import EvidenceClip
from policy.errors import EvidenceInvalid

FRAME = np.zeros((96, 128, 3), np.uint8)
AUDIO = np.zeros(16_000, np.float32)


def test_a_clip_reports_its_shape_and_duration() -> None:
    clip = EvidenceClip.from_frames([FRAME] * 50, 25.0, AUDIO, 16_000)
    assert clip.size == (96, 128)
    assert clip.frame_interval == pytest.approx(0.04)
    assert clip.duration_seconds == pytest.approx(2.0)


@pytest.mark.parametrize(("frames", "times", "reason"), [
    ([], [], "no_frames"),
    ([FRAME, FRAME[:, :64]], [0, 0.1], "bad_frame"),
    ([FRAME.astype(np.float32)], [0], "bad_frame"),
    ([FRAME[..., :1]], [0], "bad_frame"),
    ([np.zeros((32, 32, 3), np.uint8)], [0], "bad_frame_size"),
    ([FRAME, FRAME], [0.1, 0.1], "bad_timestamps"),
    ([FRAME, FRAME], [0.0, float("nan")], "bad_timestamps"),
    ([FRAME], [0, 1], "bad_timestamps"),
    ([FRAME], [500.0], "too_long"),
])
def test_malformed_frames_are_refused(frames: list[np.ndarray], times: list[float],
                                      reason: str) -> None:
    with pytest.raises(EvidenceInvalid) as caught:
        EvidenceClip(tuple(frames), np.asarray(times, np.float64), AUDIO, 16_000)
    assert caught.value.context["reason"] == reason


@pytest.mark.parametrize(("audio", "rate", "reason"), [
    (AUDIO, 4_000, "bad_sample_rate"),
    (AUDIO, True, "bad_sample_rate"),
    (AUDIO.astype(np.float64), 16_000, "bad_audio"),
    (np.zeros((2, 100), np.float32), 16_000, "bad_audio"),
    (np.full(100, np.nan, np.float32), 16_000, "bad_audio"),
    (np.zeros(16_000 * 200, np.float32), 16_000, "too_long"),
])
def test_malformed_audio_is_refused(audio: np.ndarray, rate: int, reason: str) -> None:
    with pytest.raises(EvidenceInvalid) as caught:
        EvidenceClip.from_frames([FRAME], 25.0, audio, rate)
    assert caught.value.context["reason"] == reason
    assert caught.value.code == "evidence_invalid"


def test_an_absurd_frame_rate_is_refused() -> None:
    with pytest.raises(EvidenceInvalid):
        EvidenceClip.from_frames([FRAME], 0.0, AUDIO, 16_000)
