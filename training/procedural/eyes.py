"""Blinks and gaze.

Blinks: a renewal process (gamma intervals, at least 0.6 s apart) at the style's rate; a
blink falling near a pause onset usually moves into the 0.3 s after it. Each blink lasts 100-300
ms, closes fast (35 %) and opens slower, and reaches 1.0 on its peak frame; both lids move
together, the right one a few milliseconds off.

Gaze: fixations around the clip's main direction (gamma-distributed dwell times) joined by
one-frame saccades, with partial counter-rotation against head turns (the eyes keep looking
at the listener while the head sways). The sequence mean is exactly main + style offset.
"""

from __future__ import annotations

import numpy as np

from training.procedural.emotion import EmotionStyle
from training.procedural.prosody import Activity

REFRACTORY_S = 0.6
SNAP_S, SNAP_PROBABILITY, PAUSE_WINDOW_S = 0.8, 0.6, 0.3
BLINK_S = (0.10, 0.30)
CLOSE_SHARE = 0.35
ASYMMETRY_S = 0.008
FIXATION_SPREAD = (0.12, 0.07)  # x, y std of fixations around the main direction
EYE_RANGE_RAD = 0.7  # head rotation that a full-range (±1) eye shift would cancel
COUNTER_ROTATION = 0.5  # share of head sway the eyes cancel


def _blink_shape(dt: np.ndarray, close: float, opening: float) -> np.ndarray:
    """Lid closure at times ``dt`` (s) from the peak: half-cosine down then up, 1 at dt=0."""
    down = 0.5 * (1.0 + np.cos(np.pi * np.clip(dt / close, -1.0, 0.0)))
    up = 0.5 * (1.0 + np.cos(np.pi * np.clip(dt / opening, 0.0, 1.0)))
    return np.where(dt <= 0.0, down, up)


def blink_frames(n: int, activity: Activity, rate_per_min: float, fps: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(K,) frame indices of blink peaks.

    Intervals are gamma-distributed (shape 3: more regular than Poisson, as real blinking is);
    a blink due within ``SNAP_S`` of a pause onset moves, usually, to just after that onset.
    """
    mean_gap = 60.0 / rate_per_min
    onsets = activity.pause_onsets / fps
    kept: list[int] = []
    t = rng.uniform(0.0, mean_gap)
    while t < n / fps:
        near = onsets[np.abs(onsets - t) < SNAP_S]
        if near.size and rng.random() < SNAP_PROBABILITY:
            t = float(near[0]) + rng.uniform(0.0, PAUSE_WINDOW_S)
        k = int(round(t * fps))
        if k < n and (not kept or (k - kept[-1]) / fps >= REFRACTORY_S):
            kept.append(k)
        t += max(REFRACTORY_S, rng.gamma(3.0, mean_gap / 3.0))
    return np.asarray(kept, dtype=int)


def blinks(n: int, activity: Activity, style: EmotionStyle, fps: float,
           rng: np.random.Generator) -> np.ndarray:
    """(T, 2) blink_left, blink_right in [0, 1] (lid droop ``style.lid`` at rest)."""
    rate = style.blink_per_min * rng.uniform(0.8, 1.2)
    peaks = blink_frames(n, activity, rate, fps, rng)
    t = np.arange(n) / fps
    lids = np.zeros((n, 2))
    for k in peaks:
        duration = rng.uniform(*BLINK_S)
        close, opening = CLOSE_SHARE * duration, (1.0 - CLOSE_SHARE) * duration
        dt = t - k / fps
        lids[:, 0] = np.maximum(lids[:, 0], _blink_shape(dt, close, opening))
        offset = rng.uniform(-ASYMMETRY_S, ASYMMETRY_S)
        lids[:, 1] = np.maximum(lids[:, 1], _blink_shape(dt + offset, close, opening))
    return style.lid + (1.0 - style.lid) * lids


def gaze(
    n: int,
    main: tuple[float, float],
    style: EmotionStyle,
    head: np.ndarray,
    fps: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(T, 2) gaze_x, gaze_y; head: (T, >=2) yaw, pitch in radians."""
    offsets = np.zeros((n, 2))
    start = 0
    while start < n:
        dwell = max(1, int(round(rng.gamma(2.0, style.gaze_dwell / 2.0) * fps)))
        if rng.random() < 0.75:  # otherwise look straight back at the main direction
            offsets[start : start + dwell] = rng.normal(0.0, FIXATION_SPREAD)
        start += dwell
    # one-frame saccades: average neighbouring frames only where the target jumps
    jumps = np.flatnonzero(np.any(np.diff(offsets, axis=0) != 0.0, axis=1)) + 1
    smoothed = offsets.copy()
    smoothed[jumps] = 0.5 * (offsets[jumps] + offsets[jumps - 1])
    sway = head[:, :2] - head[:, :2].mean(axis=0)
    out = smoothed - COUNTER_ROTATION * sway / EYE_RANGE_RAD  # eyes turn against the head
    out += rng.normal(0.0, 0.004, out.shape)  # fixational tremor
    target = np.asarray(main, float) + np.asarray(style.gaze_offset, float)
    return out - out.mean(axis=0) + target
