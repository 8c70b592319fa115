"""Render one motion sequence on one portrait and measure what a viewer would notice.

Everything is re-measured on the rendered 512x512 frames (dlib landmarks re-detected), never
read back from the motion vector, except the seam check, which looks at the generated motion
itself (window joins are a property of the generator, not of the renderer).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.model_eval.inputs import Utterance
from model.audio.types import FPS
from model.evaluation.metrics import (
    audio_envelope,
    blinks_per_minute,
    closed_mouth_share,
    face_mask,
    head_motion_delta,
    join_jerk,
    lip_sync,
    sharpness,
)
from model.evaluation.tracking import FaceTrack, track_faces
from model.face.identity import face_descriptor, identity_distance
from model.face.landmarks import MOUTH_OUTER
from model.motion.space import MOUTH_FIELDS, POSE_FIELDS
from model.pipeline import PreparedPortrait

CLOSED_APERTURE = 0.06  # inner-lip gap / inter-ocular below which the mouth counts as closed
PAUSE_DBFS = -50.0  # a pause: no sound at all, not an unvoiced consonant the voice detector skips
IDENTITY_EVERY = 25  # frames between identity descriptors (~100 ms each)


@dataclass(frozen=True)
class ClipFigures:
    frames: int
    lip_sync_r: float
    lip_sync_lag: int
    mismatched_r: float
    silent_closed: float
    pause_closed: float
    bilabial_closed: float
    rounded_width: float
    spread_width: float
    identity_mean: float
    identity_max: float
    blinks_per_min: float
    min_ear: float
    open_ear: float
    head_delta_deg: float
    jerk_at_joins: float
    jerk_elsewhere: float
    mouth_sharpness_ratio: float
    flicker_outside: float
    face_found: float


@dataclass
class RenderedClip:
    figures: ClipFigures
    track: FaceTrack
    stills: dict[int, np.ndarray]


def render_and_measure(
    prepared: PreparedPortrait,
    motion: np.ndarray,
    utterance: Utterance,
    mismatched: Utterance,
    join_frames: list[int],
    keep: tuple[int, ...] = (),
) -> RenderedClip:
    """Render ``motion`` (T, 16) on the portrait and compute ``ClipFigures``; frames listed in
    ``keep`` are returned as stills."""
    stills: dict[int, np.ndarray] = {}
    flicker = _FlickerMeter(prepared.portrait.landmarks)
    mouth_sharp: list[float] = []

    def frames():
        for i, m in enumerate(motion):
            frame = prepared.renderer.render(m)
            flicker.add(frame)
            if i in keep:
                stills[i] = frame
            if i % 5 == 0:
                mouth_sharp.append(_mouth_sharpness(frame, prepared.portrait.landmarks))
            yield frame

    rendered: list[np.ndarray] = []
    track = track_faces(_keep_for_identity(frames(), rendered))
    aperture = track.series("aperture")
    width = track.series("mouth_width")
    envelope = audio_envelope(utterance.features)
    other = audio_envelope(mismatched.features)
    n = min(len(aperture), len(other))
    sync, wrong = lip_sync(aperture, envelope), lip_sync(aperture[:n], other[:n])
    blinks = blinks_per_minute(track.series("ear_left"), track.series("ear_right"), FPS)
    seam = join_jerk(motion[:, list(POSE_FIELDS) + list(MOUTH_FIELDS)], join_frames)
    portrait_sharp = _mouth_sharpness(prepared.portrait.image, prepared.portrait.landmarks)
    identity = _identity(prepared, track, rendered)
    figures = ClipFigures(
        frames=len(motion),
        lip_sync_r=sync.r,
        lip_sync_lag=sync.lag,
        mismatched_r=wrong.r,
        silent_closed=closed_mouth_share(aperture, utterance.features.voiced, CLOSED_APERTURE),
        pause_closed=closed_mouth_share(aperture, ~_pauses(utterance), CLOSED_APERTURE),
        bilabial_closed=_share_below(aperture, utterance.bilabial_frames(), CLOSED_APERTURE),
        rounded_width=_mean_at(width, utterance.rounded_frames()),
        spread_width=_mean_at(width, utterance.spread_frames()),
        identity_mean=float(np.mean(identity)) if identity else float("nan"),
        identity_max=float(np.max(identity)) if identity else float("nan"),
        blinks_per_min=blinks.per_minute,
        min_ear=blinks.min_ear,
        open_ear=blinks.open_ear,
        head_delta_deg=head_motion_delta(track.poses()),
        jerk_at_joins=seam.at_joins,
        jerk_elsewhere=seam.elsewhere,
        mouth_sharpness_ratio=float(np.mean(mouth_sharp)) / max(portrait_sharp, 1e-9),
        flicker_outside=flicker.value(),
        face_found=float(track.found.mean()),
    )
    return RenderedClip(figures, track, stills)


def _keep_for_identity(frames, sink: list[np.ndarray]):
    """Pass frames through, keeping every IDENTITY_EVERY-th one (identity is measured after
    tracking, from those frames and their tracked landmarks)."""
    for i, frame in enumerate(frames):
        if i % IDENTITY_EVERY == 0:
            sink.append(frame)
        yield frame


def _identity(prepared: PreparedPortrait, track: FaceTrack, kept: list[np.ndarray]) -> list[float]:
    reference = face_descriptor(prepared.portrait.image, prepared.portrait.landmarks)
    out = []
    for j, frame in enumerate(kept):
        i = j * IDENTITY_EVERY
        if track.found[i]:
            out.append(identity_distance(reference, face_descriptor(frame, track.landmarks[i])))
    return out


def _pauses(utterance: Utterance) -> np.ndarray:
    """(T,) bool frames of real silence: quieter than PAUSE_DBFS, and their neighbours too (the
    frame after a word still sounds; closing the mouth takes a frame)."""
    quiet = utterance.features.energy < PAUSE_DBFS
    return quiet & np.roll(quiet, 1) & np.roll(quiet, -1)


def _share_below(series: np.ndarray, frames: np.ndarray, threshold: float) -> float:
    values = series[frames] if len(frames) else np.array([])
    values = values[np.isfinite(values)]
    return float(np.mean(values < threshold)) if values.size else float("nan")


def _mean_at(series: np.ndarray, frames: np.ndarray) -> float:
    values = series[frames] if len(frames) else np.array([])
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def _mouth_sharpness(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """Variance of the Laplacian in the portrait's mouth box (fixed box: the same pixels)."""
    pts = landmarks[MOUTH_OUTER]
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 6
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 6
    grey = cv2.cvtColor(rgb[max(y0, 0) : y1, max(x0, 0) : x1], cv2.COLOR_RGB2GRAY)
    return sharpness(grey)


class _FlickerMeter:
    """Mean absolute frame-to-frame change outside the portrait's face (and a margin), computed
    on the fly so a clip's frames need not be held in memory."""

    def __init__(self, landmarks: np.ndarray) -> None:
        face = face_mask(landmarks, (512, 512), forehead=1.2)
        grown = cv2.dilate(face.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
        self.outside = ~grown
        self.previous: np.ndarray | None = None
        self.total, self.count = 0.0, 0

    def add(self, frame: np.ndarray) -> None:
        grey = frame.astype(np.float32).mean(axis=2)
        if self.previous is not None:
            self.total += float(np.abs(grey - self.previous)[self.outside].mean())
            self.count += 1
        self.previous = grey

    def value(self) -> float:
        return self.total / self.count if self.count else float("nan")
