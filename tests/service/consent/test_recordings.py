"""The door checks on a consent recording: the real format, both streams, a believable
duration, decodable frames - each refusal a precise code with what was measured."""

from __future__ import annotations

import pytest

from service.domain.recordings import RecordingLimits, validate_recording
from service.errors import UploadError
from tests.service.api.conftest import face
from tests.service.consent.conftest import synthetic_clip

LIMITS = RecordingLimits(max_bytes=2_000_000, min_seconds=3.0, max_seconds=20.0)


@pytest.mark.parametrize("fmt", ["webm", "mp4"])
def test_a_clip_with_picture_and_sound_passes(fmt: str) -> None:
    clip = validate_recording(synthetic_clip(4.0, fmt=fmt), LIMITS)
    assert clip.media_type == f"video/{fmt}"
    assert clip.duration_seconds == pytest.approx(4.0, abs=0.1)
    assert (clip.width, clip.height) == (96, 96)


def _refusal(data: bytes, limits: RecordingLimits = LIMITS) -> UploadError:
    with pytest.raises(UploadError) as refused:
        validate_recording(data, limits)
    return refused.value


def test_bad_recordings_are_refused_with_their_reason() -> None:
    webm = synthetic_clip(4.0)
    assert _refusal(b"").code == "upload_empty"
    big = _refusal(webm, RecordingLimits(len(webm) - 1, 3.0, 20.0))
    assert big.code == "upload_too_large" and big.context["size_bytes"] == len(webm)
    assert _refusal(face("obama.jpg")).code == "upload_type_unsupported"
    assert _refusal(webm[:64] + b"\x00" * 900).code == "upload_corrupt"
    assert _refusal(synthetic_clip(4.0, audio=False)).context["missing"] == "audio"
    assert _refusal(synthetic_clip(4.0, fmt="mp4", video=False)).code \
        == "recording_stream_missing"
    short = _refusal(synthetic_clip(1.5))
    assert short.code == "recording_too_short" and short.context["seconds"] < 2
    long = _refusal(synthetic_clip(4.0), RecordingLimits(2_000_000, 1.0, 2.5))
    assert long.code == "recording_too_long" and long.context["max_seconds"] == 2.5
