"""Decode a consent recording (the capture page's WebM, a partner's MP4) for the evidence checks.

    file -> sha256 of its bytes
         -> video frames with their timestamps, at most ``max_fps`` a second (a browser records
            at a variable rate; frames closer than 1 / max_fps to the last kept one are dropped)
            and scaled so the long side is at most ``max_side`` px: bounded memory and time
            for a 2-minute clip, and a face still ~150 px wide
         -> the audio track as mono float32 at its own rate (none: an empty track, flagged)
         -> ``policy.consent.evidence.EvidenceClip``

Unreadable input is ``VideoUnreadable`` with a ``reason`` (``not_found``, ``empty``,
``not_a_container``, ``no_video_stream``, ``corrupt``, ``too_long``); a file that breaks off
keeps what decoded before the break (``truncated``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from model.errors import AudioEmpty, AudioError
from policy.consent.evidence import EvidenceClip
from service.errors import VideoUnreadable
from service.media.audio import load_audio
from service.media.video import MAX_VIDEO_BYTES, MAX_VIDEO_PIXELS

DEFAULT_MAX_FPS = 12.5
DEFAULT_MAX_SIDE = 640
DEFAULT_MAX_SECONDS = 180.0


@dataclass(frozen=True)
class DecodedEvidence:
    clip: EvidenceClip
    sha256: str
    container: str  # FFmpeg's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm"
    truncated: bool  # the video broke off; the frames before the break are in ``clip``

    @property
    def is_mp4(self) -> bool:
        return "mp4" in self.container


def decode_evidence(path: Path, *, max_fps: float = DEFAULT_MAX_FPS,
                    max_side: int = DEFAULT_MAX_SIDE,
                    max_seconds: float = DEFAULT_MAX_SECONDS) -> DecodedEvidence:
    """Frames + audio of ``path`` (see module doc)."""
    path = Path(path)
    data = _read(path)
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoUnreadable(f"{path.name} is not a video file FFmpeg can read ({exc})",
                              reason="not_a_container", path=str(path)) from exc
    with container:
        if not container.streams.video:
            raise VideoUnreadable(f"{path.name} holds no video stream",
                                  reason="no_video_stream", path=str(path))
        has_audio = bool(container.streams.audio)
        fmt = container.format.name
        frames, times, truncated = _frames(container, path, max_fps, max_side, max_seconds)
    samples, rate = _audio(path, max_seconds) if has_audio else (np.zeros(0, np.float32), 16_000)
    clip = EvidenceClip(tuple(frames), np.asarray(times), samples, rate,
                        has_audio_track=has_audio)
    return DecodedEvidence(clip, hashlib.sha256(data).hexdigest(), fmt, truncated)


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise VideoUnreadable(f"video file not found: {path}", reason="not_found",
                              path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise VideoUnreadable(f"{path.name} is empty", reason="empty", path=str(path))
    if size > MAX_VIDEO_BYTES:
        raise VideoUnreadable(f"{path.name} is {size} bytes; the limit is {MAX_VIDEO_BYTES}",
                              reason="too_many_bytes", size_bytes=size)
    return path.read_bytes()


def _frames(container: av.container.InputContainer, path: Path, max_fps: float,
            max_side: int, max_seconds: float) -> tuple[list[np.ndarray], list[float], bool]:
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0 or width * height > MAX_VIDEO_PIXELS:
        raise VideoUnreadable(f"video frame size {width}x{height} is not supported",
                              reason="unsupported_size", width=width, height=height)
    frames: list[np.ndarray] = []
    times: list[float] = []
    origin: float | None = None
    try:
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                continue
            t = float(frame.pts * frame.time_base)
            origin = t if origin is None else origin
            t -= origin
            if t > max_seconds:
                raise VideoUnreadable(f"{path.name} lasts more than {max_seconds:g} s",
                                      reason="too_long", path=str(path))
            if times and t < times[-1] + 1.0 / max_fps - 1e-3:
                continue
            frames.append(_fit(frame.to_ndarray(format="rgb24"), max_side))
            times.append(t)
    except (av.FFmpegError, ValueError) as exc:
        if not frames:
            raise VideoUnreadable(f"{path.name}: no frame could be decoded ({exc})",
                                  reason="corrupt", path=str(path)) from exc
        return frames, times, True
    if not frames:
        raise VideoUnreadable(f"{path.name}: the video stream holds no frame", reason="corrupt",
                              path=str(path))
    return frames, times, False


def _fit(frame: np.ndarray, max_side: int) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return np.ascontiguousarray(frame)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _audio(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    try:
        return load_audio(path, max_seconds=max_seconds)
    except AudioEmpty:  # a track with no samples: as good as none (the checks say "no audio")
        return np.zeros(0, np.float32), 16_000
    except AudioError as exc:
        raise VideoUnreadable(f"{path.name}: the audio track does not decode ({exc})",
                              reason="corrupt", path=str(path)) from exc
