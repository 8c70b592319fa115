"""Small signal generators shared by the procedural motion: smooth noise and bump trains."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import lfilter


@lru_cache(maxsize=64)
def _noise_filter(a1: float, a2: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Two cascaded one-pole low-passes (an Ornstein-Uhlenbeck process, then smoothing so the
    velocity is continuous) and the gain that gives unit stationary standard deviation."""
    b = np.array([1.0 - a2])
    a = np.convolve([1.0, -a1], [1.0, -a2])
    length = int(np.ceil(20.0 / max(1.0 - a1, 1e-3)))
    impulse = np.zeros(length)
    impulse[0] = 1.0
    h = lfilter(b, a, impulse)
    return b, a, 1.0 / float(np.sqrt(np.sum(h * h)))


def smooth_noise(
    drive: np.ndarray, fps: float, tau: float, smooth_tau: float, rng: np.random.Generator
) -> np.ndarray:
    """(T,) drive -> (T,) zero-mean smooth noise whose local standard deviation follows
    ``drive`` (1 gives unit std) with time constant ``tau`` seconds. The process starts from its
    stationary state (a burn-in of 4 tau at the first frame's drive), not from zero."""
    a1, a2 = float(np.exp(-1.0 / (tau * fps))), float(np.exp(-1.0 / (smooth_tau * fps)))
    b, a, gain = _noise_filter(round(a1, 6), round(a2, 6))
    burn = int(np.ceil(4.0 * tau * fps))
    d = np.concatenate([np.full(burn, drive[0] if len(drive) else 0.0), drive])
    y = lfilter(b, a, gain * d * rng.standard_normal(len(d)))
    return y[burn:]


def bumps(n: int, frames: np.ndarray, amplitudes: np.ndarray, tau: float, fps: float) -> np.ndarray:
    """(n,) sum of smooth bumps u·e^(1-u), u = (t - start)/tau, peaking (at ``amplitude``)
    at the given frames; each starts ``tau`` before its peak."""
    out = np.zeros(n)
    if len(frames) == 0:
        return out
    rise = tau * fps
    t = np.arange(int(np.ceil(7 * rise)) + 1)
    kernel = (t / rise) * np.exp(1.0 - t / rise)
    starts = np.asarray(frames) - int(round(rise))
    for start, amp in zip(starts, amplitudes):
        lo, hi = max(start, 0), min(start + len(kernel), n)
        if hi > lo:
            out[lo:hi] += amp * kernel[lo - start : hi - start]
    return out
