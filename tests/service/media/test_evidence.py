"""Decoding consent recordings for the evidence checks (real H.264/AAC and VP8/Opus files)."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from service.errors import VideoUnreadable
from service.media.evidence import decode_evidence
from tests.consent_clips import write_clip

RATE = 22_050


def _frames(n: int, size: tuple[int, int] = (480, 640)) -> list[np.ndarray]:
    return [np.full((*size, 3), (7 * i) % 256, np.uint8) for i in range(n)]


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_frames_are_thinned_and_scaled_and_the_audio_kept(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", _frames(50), _tone(2.0))
    decoded = decode_evidence(path, max_fps=12.5, max_side=320)
    clip = decoded.clip
    assert clip.size == (240, 320)
    assert len(clip.frames) == 25 and np.all(np.diff(clip.timestamps) >= 0.079)
    assert clip.timestamps[0] == 0.0
    assert clip.has_audio_track and 1.9 < len(clip.audio) / clip.sample_rate < 2.2
    assert decoded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert decoded.is_mp4 and not decoded.truncated


def test_a_clip_without_sound_says_so(tmp_path: Path) -> None:
    decoded = decode_evidence(write_clip(tmp_path / "mute.mp4", _frames(10), None))
    assert not decoded.clip.has_audio_track and len(decoded.clip.audio) == 0


def test_a_browser_webm_decodes(tmp_path: Path) -> None:
    """VP8 + Opus at a variable frame rate, as MediaRecorder writes it."""
    path = tmp_path / "capture.webm"
    times = np.cumsum([0.0] + [0.03, 0.05] * 15)
    with av.open(str(path), "w", format="webm") as box:
        video = box.add_stream("libvpx", rate=1000)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.time_base = Fraction(1, 1000)
        audio = box.add_stream("libopus", rate=48_000, layout="mono")
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(_frames(1, (240, 320))[0], format="rgb24")
            frame.pts, frame.time_base = int(t * 1000), Fraction(1, 1000)
            box.mux(video.encode(frame))
        box.mux(video.encode())
        tone = np.tile(_tone(1.0)[:960], 50)[None, :]
        sound = av.AudioFrame.from_ndarray(tone.astype(np.float32), format="flt", layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = 48_000, 0, Fraction(1, 48_000)
        box.mux(audio.encode(sound))
        box.mux(audio.encode())
    decoded = decode_evidence(path, max_fps=12.5)
    assert not decoded.is_mp4 and decoded.clip.has_audio_track
    assert np.all(np.diff(decoded.clip.timestamps) >= 0.079)
    assert decoded.clip.timestamps[-1] == pytest.approx(times[-1], abs=0.06)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty"), (b"\x00" * 4096, "not_a_container"),
])
def test_unreadable_files_are_refused_with_a_reason(tmp_path: Path, content: bytes,
                                                    reason: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoUnreadable) as caught:
        decode_evidence(path)
    assert caught.value.context["reason"] == reason


def test_a_missing_file_and_an_audio_only_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VideoUnreadable) as caught:
        decode_evidence(tmp_path / "nowhere.mp4")
    assert caught.value.context["reason"] == "not_found"
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w", format="mp4") as box:
        stream = box.add_stream("aac", rate=48_000, layout="mono")
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="flt",
                                           layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = 48_000, 0, Fraction(1, 48_000)
        box.mux(stream.encode(sound))
        box.mux(stream.encode())
    with pytest.raises(VideoUnreadable) as caught:
        decode_evidence(path)
    assert caught.value.context["reason"] == "no_video_stream"


def test_a_clip_longer_than_allowed_is_refused(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "long.mp4", _frames(75, (64, 64)), None)
    with pytest.raises(VideoUnreadable) as caught:
        decode_evidence(path, max_seconds=2.0)
    assert caught.value.context["reason"] == "too_long"
