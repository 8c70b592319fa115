"""The values the evidence checks pass around: the decoded clip, one check's result, the report.

Decoding is the service's (``service.media.evidence``): the checks take arrays, never files
(except the C2PA manifest, which lives in the file and is read by the caller). A malformed or
absurd clip is ``EvidenceInvalid`` with a ``reason``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policy.errors import EvidenceInvalid

MAX_CLIP_SECONDS = 180.0
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000
MIN_FRAME_SIDE, MAX_FRAME_PIXELS = 64, 4096 * 4096


class Decision(enum.StrEnum):
    PASS = "pass"  # consent granted automatically
    REVIEW = "review"  # a compliance officer decides, with every score
    FAIL = "fail"  # rejected; ``reasons`` say what to do


@dataclass(frozen=True)
class EvidenceClip:
    """A decoded consent recording.

    frames: T frames, each (H, W, 3) uint8 RGB, all the same size (a (T, H, W, 3) array or a
        sequence; the decoder may have dropped frames to bound the cost).
    timestamps: (T,) float64 seconds from the start of the recording, increasing.
    audio: (N,) float32 mono in [-1, 1] (may be empty: no audio track); sample_rate in Hz.
    """

    frames: tuple[np.ndarray, ...] = field(repr=False)
    timestamps: np.ndarray = field(repr=False)
    audio: np.ndarray = field(repr=False)
    sample_rate: int
    has_audio_track: bool = True

    def __post_init__(self) -> None:
        frames = tuple(self.frames)
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "timestamps", np.asarray(self.timestamps, np.float64))
        object.__setattr__(self, "audio", np.asarray(self.audio))
        _check_frames(frames, self.timestamps)
        _check_audio(self.audio, self.sample_rate)

    @classmethod
    def from_frames(cls, frames: Any, fps: float, audio: np.ndarray, sample_rate: int,
                    has_audio_track: bool = True) -> EvidenceClip:
        """A clip of evenly spaced frames at ``fps``."""
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 1.0 <= fps <= 240.0):
            raise EvidenceInvalid(f"fps must be 1-240, got {fps!r}", reason="bad_fps")
        frames = tuple(frames)
        return cls(frames, np.arange(len(frames), dtype=np.float64) / fps, audio, sample_rate,
                   has_audio_track)

    @property
    def duration_seconds(self) -> float:
        video = float(self.timestamps[-1]) + self.frame_interval
        return max(video, len(self.audio) / self.sample_rate)

    @property
    def frame_interval(self) -> float:
        """Median seconds between frames."""
        if len(self.timestamps) < 2:
            return 1.0 / 25.0
        return float(np.median(np.diff(self.timestamps)))

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return int(self.frames[0].shape[0]), int(self.frames[0].shape[1])


def _check_frames(frames: tuple[np.ndarray, ...], timestamps: np.ndarray) -> None:
    if not frames:
        raise EvidenceInvalid("the clip has no video frames", reason="no_frames")
    first = frames[0]
    for i, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
                or frame.shape[2] != 3 or frame.shape != first.shape:
            raise EvidenceInvalid(f"frame {i} is not an (H, W, 3) uint8 RGB array of the clip's "
                                  "size", reason="bad_frame", index=i,
                                  shape=tuple(getattr(frame, "shape", ())))
    h, w = first.shape[:2]
    if min(h, w) < MIN_FRAME_SIDE or h * w > MAX_FRAME_PIXELS:
        raise EvidenceInvalid(f"frames of {w}x{h} px are not a usable camera picture",
                              reason="bad_frame_size", width=w, height=h)
    if timestamps.shape != (len(frames),) or not np.all(np.isfinite(timestamps)):
        raise EvidenceInvalid("timestamps must be one finite time per frame",
                              reason="bad_timestamps")
    if len(frames) > 1 and not np.all(np.diff(timestamps) > 0):
        raise EvidenceInvalid("frame timestamps must increase", reason="bad_timestamps")
    if timestamps[0] < 0 or timestamps[-1] > MAX_CLIP_SECONDS:
        raise EvidenceInvalid(f"the clip must lie within 0-{MAX_CLIP_SECONDS:g} s",
                              reason="too_long", last=float(timestamps[-1]))


def _check_audio(audio: np.ndarray, sample_rate: int) -> None:
    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) \
            or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise EvidenceInvalid(f"sample rate must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, "
                              f"got {sample_rate!r}", reason="bad_sample_rate")
    if audio.ndim != 1 or audio.dtype != np.float32:
        raise EvidenceInvalid("audio must be (N,) float32 mono", reason="bad_audio",
                              shape=tuple(audio.shape), dtype=str(audio.dtype))
    if not np.all(np.isfinite(audio)):
        raise EvidenceInvalid("audio holds NaN or infinite samples", reason="bad_audio")
    if len(audio) > MAX_CLIP_SECONDS * sample_rate:
        raise EvidenceInvalid(f"the audio lasts more than {MAX_CLIP_SECONDS:g} s",
                              reason="too_long")


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome.

    score: the measured value the decision compares (its meaning and direction per check, see
        ``threshold``); None when nothing could be measured (e.g. no face at all).
    passed: clears the threshold outright. borderline: too close to call, an officer decides.
    A check that neither passed nor is borderline failed, and ``reason_code`` says why.
    """

    name: str
    score: float | None
    threshold: float | None
    passed: bool
    borderline: bool
    reason_code: str | None  # None when passed
    message: str  # for people: what was measured, or what to do about it
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def verdict(self) -> Decision:
        if self.passed:
            return Decision.PASS
        return Decision.REVIEW if self.borderline else Decision.FAIL


@dataclass(frozen=True)
class Reason:
    code: str  # stable, e.g. "wrong_words", "face_mismatch", "still_image"
    message: str  # what the partner (or the subject) can do about it


@dataclass(frozen=True)
class EvidenceReport:
    """The assessment of one consent recording.

    reference_encoding: the captured face, (128,) float32 (median over sampled frames), for
        the service to keep encrypted as the subject's reference; None when no usable face.
    versions: the checks' version, thresholds and model ids, stored with the decision.
    evidence_sha256: hash of the recording's bytes as given by the caller.
    spoken_words: (word, start s, end s) of the phrase words where the aligner found them.
    """

    decision: Decision
    checks: tuple[CheckResult, ...]
    reasons: tuple[Reason, ...]
    reference_encoding: np.ndarray | None = field(repr=False)
    versions: Mapping[str, Any]
    evidence_sha256: str
    spoken_words: tuple[tuple[str, float, float], ...] = ()

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)
