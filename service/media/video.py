"""MP4 in and out with PyAV: the release encoder and the verifier's decoder.

Writing: H.264 yuv420p + AAC in an MP4 with ``faststart`` (index first, so players start before
the download ends). Frames are streamed in one at a time and encoded at once; the audio, already
in memory as samples, is interleaved as the frames advance, so a long video never sits in memory.

Reading: any container FFmpeg reads, frames decoded lazily as RGB. Everything a hostile or broken
file can do (missing, empty, not a container, no video stream, absurd size) becomes
``VideoUnreadable`` with a ``reason``; a file that breaks off mid-stream yields the frames before
the break and says so (``VideoReader.truncated``) — a verifier still wants to look at those.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from service.errors import VideoUnreadable

AUDIO_RATE = 48_000
MAX_VIDEO_BYTES = 2 * 1024**3
MAX_VIDEO_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class EncodeSettings:
    """H.264 rate control for released files: CRF 20 looks clean; veryfast keeps up with 25 fps."""

    crf: int = 20
    preset: str = "veryfast"
    fps: int = 25
    audio_bitrate: int = 128_000


class Mp4Writer:
    """Streams RGB frames (and a mono audio track) into an H.264 + AAC MP4.

    ``audio`` is (mono float32 samples, sample rate); audio is cut or padded with silence to the
    video's length so the two tracks end together.
    """

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        audio: tuple[np.ndarray, int] | None = None,
        settings: EncodeSettings = EncodeSettings(),
    ) -> None:
        self.path = path
        self.settings = settings
        self.frames_written = 0
        self._container = av.open(str(path), mode="w", format="mp4",
                                  options={"movflags": "+faststart"})
        width, height = size
        self._video = self._container.add_stream(
            "libx264", rate=settings.fps,
            options={"crf": str(settings.crf), "preset": settings.preset})
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._audio_stream = None
        self._audio_samples = np.zeros(0, np.float32)
        if audio is not None:
            self._audio_stream = self._container.add_stream("aac", rate=AUDIO_RATE)
            self._audio_stream.bit_rate = settings.audio_bitrate
            self._audio_stream.layout = "mono"
            self._audio_samples = _resample(audio[0], audio[1])
        self._audio_sent = 0

    def write(self, frame: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame, then the audio up to the frame's end."""
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self.frames_written
        video_frame.time_base = Fraction(1, self.settings.fps)
        self._container.mux(self._video.encode(video_frame))
        self.frames_written += 1
        self._send_audio(until=round(self.frames_written * AUDIO_RATE / self.settings.fps))

    def close(self) -> None:
        """Flush both encoders and finish the file (faststart rewrites the index to the front)."""
        self._container.mux(self._video.encode(None))
        if self._audio_stream is not None:
            self._send_audio(until=round(self.frames_written * AUDIO_RATE / self.settings.fps))
            self._container.mux(self._audio_stream.encode(None))
        self._container.close()

    def abort(self) -> None:
        """Release the file handle without finishing the file (the caller deletes it)."""
        try:
            self._container.close()
        except (av.FFmpegError, OSError, ValueError):
            pass

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _send_audio(self, until: int) -> None:
        if self._audio_stream is None or until <= self._audio_sent:
            return
        chunk = self._audio_samples[self._audio_sent:until]
        if len(chunk) < until - self._audio_sent:  # audio shorter than video: pad with silence
            chunk = np.pad(chunk, (0, until - self._audio_sent - len(chunk)))
        audio_frame = av.AudioFrame.from_ndarray(chunk[None, :].astype(np.float32),
                                                 format="flt", layout="mono")
        audio_frame.sample_rate = AUDIO_RATE
        audio_frame.pts = self._audio_sent
        audio_frame.time_base = Fraction(1, AUDIO_RATE)
        self._container.mux(self._audio_stream.encode(audio_frame))
        self._audio_sent = until


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at any rate -> AUDIO_RATE (AAC's most compatible rate), via FFmpeg's resampler."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if rate == AUDIO_RATE or len(samples) == 0:
        return samples
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    source = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    source.sample_rate = rate
    out = [frame.to_ndarray().reshape(-1) for frame in resampler.resample(source)]
    out += [frame.to_ndarray().reshape(-1) for frame in resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its video stream (frame count may be an estimate)."""

    width: int
    height: int
    fps: float
    duration_s: float
    codec: str
    has_audio: bool


class VideoReader:
    """Lazily decodes a video file's frames as (H, W, 3) uint8 RGB."""

    def __init__(self, path: Path, max_bytes: int = MAX_VIDEO_BYTES) -> None:
        self.path = path
        self.truncated = False
        self._container = _open_video(path, max_bytes)
        self._stream = self._container.streams.video[0]
        context = self._stream.codec_context
        width, height = context.width, context.height
        if width <= 0 or height <= 0 or width * height > MAX_VIDEO_PIXELS:
            self.close()
            raise VideoUnreadable(f"video frame size {width}x{height} is not supported",
                                  reason="unsupported_size", width=width, height=height)
        rate = self._stream.average_rate or self._stream.guessed_rate or 25
        duration = (float(self._stream.duration * self._stream.time_base)
                    if self._stream.duration else float(self._container.duration or 0) / 1e6)
        self.info = VideoInfo(width, height, float(rate), duration, context.name,
                              bool(self._container.streams.audio))

    def frames(self, limit: int | None = None) -> Iterator[np.ndarray]:
        """Decoded frames in order, at most ``limit``; stops early (``truncated``) on a broken tail."""
        count = 0
        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="rgb24")
                count += 1
                if limit is not None and count >= limit:
                    return
        except (av.FFmpegError, ValueError) as exc:
            if count == 0:
                raise VideoUnreadable(f"{self.path.name}: no frame could be decoded ({exc})",
                                      reason="corrupt", path=str(self.path)) from exc
            self.truncated = True

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_video(path: Path, max_bytes: int) -> av.container.InputContainer:
    if not path.is_file():
        raise VideoUnreadable(f"video file not found: {path}", reason="not_found", path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise VideoUnreadable(f"{path.name} is empty", reason="empty", path=str(path))
    if size > max_bytes:
        raise VideoUnreadable(f"{path.name} is {size} bytes; the limit is {max_bytes}",
                              reason="too_many_bytes", size_bytes=size, max_bytes=max_bytes)
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoUnreadable(f"{path.name} is not a video file FFmpeg can read ({exc})",
                              reason="not_a_container", path=str(path)) from exc
    if not container.streams.video:
        container.close()
        raise VideoUnreadable(f"{path.name} holds no video stream", reason="no_video_stream",
                              path=str(path))
    return container
