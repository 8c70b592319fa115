"""Evaluation metrics on per-frame measurement arrays: pure functions, no models, no I/O.

They replace SyncNet/FVD-style learned metrics (no weights can be downloaded here) with figures
computed from landmarks re-detected on generated frames (``model.evaluation.tracking``) and from
the pixels. Frames where no face was found are NaN in the input series and are left out.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import cv2
import numpy as np

from model.audio.types import AudioFeatures
from model.face.landmarks import LEFT_BROW, RIGHT_BROW, eye_centres


class LagCorrelation(NamedTuple):
    """Best Pearson r over the lags tried and the lag (frames) where it occurs."""

    r: float
    lag: int


class BlinkStats(NamedTuple):
    per_minute: float
    count: int
    min_ear: float  # lowest mean EAR reached: did the eyes ever close?
    open_ear: float  # the open-eye baseline the thresholds were relative to


class JoinJerk(NamedTuple):
    at_joins: float
    elsewhere: float


class ControlResponse(NamedTuple):
    """Least-squares fit measured ≈ slope * commanded + intercept, and Pearson r."""

    slope: float
    intercept: float
    r: float


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two equal-length 1-D arrays over entries finite in both; NaN if < 3 or flat."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else float("nan")


def audio_envelope(audio: AudioFeatures | np.ndarray, floor_db: float = -60.0) -> np.ndarray:
    """(T,) float32 loudness envelope in 0..1 per video frame.

    ``audio`` is ``AudioFeatures`` (its ``energy``) or a (T,) array of frame energies in dBFS.
    The dB value is clipped to [floor_db, 0] and mapped linearly to [0, 1], so silence reads 0
    and a loud frame ~1; a log scale tracks perceived loudness, and hence mouth opening, better
    than linear RMS.
    """
    energy = audio.energy if isinstance(audio, AudioFeatures) else np.asarray(audio, np.float64)
    return ((np.clip(energy, floor_db, 0.0) - floor_db) / -floor_db).astype(np.float32)


def lip_sync(aperture: np.ndarray, envelope: np.ndarray, max_lag: int = 15) -> LagCorrelation:
    """Lip-sync proxy: the highest Pearson r between mouth aperture and the audio envelope.

    r(lag) correlates ``aperture[t + lag]`` with ``envelope[t]`` over the overlapping frames, for
    lag in -max_lag..max_lag; + lag means the mouth moves after the sound. Returns the largest
    (signed) r and its lag. Good sync reads a high r at a lag near 0; the same call with shuffled
    or another clip's audio gives the chance level to compare against. NaN apertures (no face)
    are skipped; r is NaN when fewer than 3 frames overlap.
    """
    a = np.asarray(aperture, np.float64)
    e = np.asarray(envelope, np.float64)
    n = min(len(a), len(e))
    a, e = a[:n], e[:n]
    best = LagCorrelation(float("nan"), 0)
    for lag in range(-max_lag, max_lag + 1):
        if abs(lag) >= n:
            continue
        r = _pearson(a[lag:], e[: n - lag]) if lag >= 0 else _pearson(a[: n + lag], e[-lag:])
        if np.isfinite(r) and not (r <= best.r):  # "not <=" also replaces the initial NaN
            best = LagCorrelation(r, lag)
    return best


def closed_mouth_share(aperture: np.ndarray, voiced: np.ndarray, threshold: float = 0.06) -> float:
    """Share (0..1) of voice-inactive frames whose aperture (inner-lip gap / iod) is below
    ``threshold``: a talking head should rest with its mouth closed in the pauses. Frames with
    no face are skipped; NaN when there is no such silent frame."""
    a = np.asarray(aperture, np.float64)
    v = np.asarray(voiced, bool)
    n = min(len(a), len(v))
    silent = ~v[:n] & np.isfinite(a[:n])
    if not silent.any():
        return float("nan")
    return float(np.mean(a[:n][silent] < threshold))


def blinks_per_minute(
    ear_left: np.ndarray,
    ear_right: np.ndarray,
    fps: float,
    close_ratio: float = 0.6,
    open_ratio: float = 0.8,
) -> BlinkStats:
    """Count eye closures in the mean eye aspect ratio (EAR) of both eyes.

    The open-eye EAR is the 75th percentile of the series (eyes are open most of the time). A
    blink starts when the EAR drops below ``close_ratio`` × open and ends only once it is back
    above ``open_ratio`` × open (hysteresis: jitter around one threshold is not several blinks).
    Rate = count / duration in minutes. Conversation is roughly 15-25 per minute.
    """
    ear = np.nanmean(np.stack([np.asarray(ear_left, float), np.asarray(ear_right, float)]), axis=0)
    finite = ear[np.isfinite(ear)]
    if finite.size == 0:
        return BlinkStats(float("nan"), 0, float("nan"), float("nan"))
    baseline = float(np.percentile(finite, 75))
    closed, count = False, 0
    for value in finite:
        if not closed and value < close_ratio * baseline:
            closed, count = True, count + 1
        elif closed and value > open_ratio * baseline:
            closed = False
    minutes = len(ear) / fps / 60.0
    return BlinkStats(count / minutes, count, float(finite.min()), baseline)


def head_motion_delta(poses_rad: np.ndarray) -> float:
    """ΔP: mean absolute frame-to-frame change of the head angles, degrees per frame.

    poses_rad: (T, 3) yaw, pitch, roll in radians. The mean runs over all consecutive frame
    pairs (with both poses known) and the three angles. VASA-1 reports this against real video.
    """
    p = np.degrees(np.asarray(poses_rad, np.float64))
    d = np.abs(np.diff(p, axis=0))
    d = d[np.all(np.isfinite(d), axis=1)]
    return float(d.mean()) if d.size else float("nan")


def join_jerk(series: np.ndarray, join_frames: Iterable[int]) -> JoinJerk:
    """Mean jerk at window joins and elsewhere, to show seams between generated windows.

    series: (T,) or (T, D) motion; jerk is the L2 norm over D of the third difference
    x[t+3] - 3x[t+2] + 3x[t+1] - x[t]. A join at frame k (the first frame of a new window)
    touches the three stencils t = k-3..k-1 that contain both k-1 and k; "elsewhere" averages
    every stencil touching no join. A seam shows as at_joins >> elsewhere.
    """
    x = np.asarray(series, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    jerk = np.linalg.norm(np.diff(x, n=3, axis=0), axis=1)  # (T-3,) stencil t = x[t..t+3]
    at_join = np.zeros(len(jerk), bool)
    for k in join_frames:
        at_join[max(k - 3, 0) : max(min(k, len(jerk)), 0)] = True
    ok = np.isfinite(jerk)
    join_vals, other_vals = jerk[at_join & ok], jerk[~at_join & ok]
    return JoinJerk(
        float(join_vals.mean()) if join_vals.size else float("nan"),
        float(other_vals.mean()) if other_vals.size else float("nan"),
    )


def sharpness(gray_roi: np.ndarray) -> float:
    """Variance of the Laplacian of a grey (H, W) region (e.g. the mouth): higher is sharper;
    blurry generated teeth and lips read low."""
    return float(cv2.Laplacian(np.asarray(gray_roi, np.float64), cv2.CV_64F).var())


def flicker_outside(frames: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute frame-to-frame change (grey levels 0..255, averaged over channels) of the
    pixels outside the face: background and clothes should stay still.

    frames: (T, H, W, C) or (T, H, W). mask: (H, W) or (T, H, W) bool, True on the face; with
    per-frame masks a pixel counts when it is outside the face in both frames of a pair.
    """
    f = np.asarray(frames, np.float32)
    if len(f) < 2:
        return float("nan")
    m = np.asarray(mask, bool)
    diff = np.abs(f[1:] - f[:-1])
    diff = diff.mean(axis=-1) if diff.ndim == 4 else diff  # (T-1, H, W)
    outside = ~(m[1:] | m[:-1]) if m.ndim == 3 else np.broadcast_to(~m, diff.shape)
    return float(diff[outside].mean()) if outside.any() else float("nan")


def face_mask(landmarks: np.ndarray, size: tuple[int, int], forehead: float = 0.6) -> np.ndarray:
    """(H, W) bool mask of the face for (68, 2) landmarks in an image of size (H, W).

    The convex hull of the landmarks, with the brows lifted by ``forehead`` inter-ocular
    distances so the forehead counts as face (dlib has no points above the brows).
    """
    pts = np.asarray(landmarks, np.float64)
    left, right = eye_centres(pts)
    iod = np.linalg.norm(right - left)
    up = np.concatenate([pts[RIGHT_BROW], pts[LEFT_BROW]]) - (0.0, forehead * iod)
    hull = cv2.convexHull(np.round(np.concatenate([pts, up])).astype(np.int32))
    out = np.zeros(size, np.uint8)
    cv2.fillConvexPoly(out, hull, 1)
    return out.astype(bool)


def control_response(commanded: np.ndarray, measured: np.ndarray) -> ControlResponse:
    """How well a control is obeyed: fit measured = slope × commanded + intercept by least
    squares, plus Pearson r, over pairs finite in both (e.g. commanded gaze_x per clip vs the
    mean pupil offset measured). slope ≈ 1 and r ≈ 1 mean the control does what it says."""
    c = np.asarray(commanded, np.float64).ravel()
    m = np.asarray(measured, np.float64).ravel()
    ok = np.isfinite(c) & np.isfinite(m)
    c, m = c[ok], m[ok]
    if len(c) < 2 or np.ptp(c) == 0:
        return ControlResponse(float("nan"), float("nan"), float("nan"))
    slope, intercept = np.polyfit(c, m, 1)
    return ControlResponse(float(slope), float(intercept), _pearson(c, m))
