"""Prosodic cues for non-verbal motion: pitch (F0), emphasis peaks, speech activity, pauses.

All per-frame arrays are at the video frame rate, frame ``k`` centred at ``(k + 0.5) / fps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import binary_closing
from scipy.signal import find_peaks, medfilt

F0_MIN, F0_MAX = 60.0, 400.0
F0_WINDOW_S = 0.05  # ~3 periods at the lowest pitch
VOICING_MIN_CORRELATION = 0.5
SILENCE_BELOW_PEAK_DB = 35.0


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average over ``width`` frames, edge-padded so the ends are not pulled to 0."""
    if width <= 1:
        return x.astype(np.float64)
    left = width // 2
    padded = np.pad(x.astype(np.float64), (left, width - 1 - left), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def estimate_f0(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """(n,) mono float samples -> (n_frames,) float32 F0 in Hz, 0 where unvoiced.

    Normalised autocorrelation of a Hann-windowed 50 ms frame, divided by the window's own
    autocorrelation (Boersma 1993); the shortest lag whose peak reaches 90 % of the best one
    wins, which avoids picking a multiple of the period (an octave too low).
    """
    width = int(round(F0_WINDOW_S * sample_rate))
    x = np.asarray(samples, np.float64)
    padded = np.pad(x, (width, width + int(sample_rate / fps) * 2))
    centres = ((np.arange(n_frames) + 0.5) / fps * sample_rate).astype(int) + width - width // 2
    frames = sliding_window_view(padded, width)[centres]  # (T, W)
    window = np.hanning(width)
    nfft = 1 << int(np.ceil(np.log2(2 * width)))
    centred = (frames - frames.mean(axis=1, keepdims=True)) * window
    r = np.fft.irfft(np.abs(np.fft.rfft(centred, nfft, axis=1)) ** 2, nfft, axis=1)[:, :width]
    rw = np.fft.irfft(np.abs(np.fft.rfft(window, nfft)) ** 2, nfft)[:width]
    r = r / np.maximum(r[:, :1], 1e-12) / (rw / rw[0])
    lo, hi = int(sample_rate / F0_MAX), min(int(sample_rate / F0_MIN), width // 2)
    seg = r[:, lo - 1 : hi + 2]
    mid = seg[:, 1:-1]
    is_peak = (mid > seg[:, :-2]) & (mid >= seg[:, 2:])
    peaks = np.where(is_peak, mid, -1.0)
    best = peaks.max(axis=1)
    first = np.argmax(is_peak & (peaks >= 0.9 * best[:, None]), axis=1)
    rows = np.arange(n_frames)
    # parabolic interpolation around the chosen lag for sub-sample precision
    y0, y1, y2 = seg[rows, first], seg[rows, first + 1], seg[rows, first + 2]
    shift = np.clip(0.5 * (y0 - y2) / np.where(np.abs(y0 - 2 * y1 + y2) > 1e-12, y0 - 2 * y1 + y2, 1e-12), -1, 1)
    lag = lo + first + shift
    rms_db = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    loud = rms_db > rms_db.max() - SILENCE_BELOW_PEAK_DB
    f0 = np.where((best >= VOICING_MIN_CORRELATION) & loud, sample_rate / lag, 0.0)
    return medfilt(f0, 3).astype(np.float32) if n_frames >= 3 else f0.astype(np.float32)


@dataclass(frozen=True)
class Activity:
    """speaking: (T,) bool speech frames (gaps under ~120 ms closed); level: (T,) float in
    [0, 1], speech share over the surrounding ~0.3 s; pause_onsets: frames where a pause of at
    least ``MIN_PAUSE_S`` begins."""

    speaking: np.ndarray
    level: np.ndarray
    pause_onsets: np.ndarray


MIN_PAUSE_S = 0.2


def speech_activity(energy_db: np.ndarray, voiced: np.ndarray, fps: float = 25.0) -> Activity:
    """Speech activity from frame loudness (dBFS) and voice flags."""
    n = len(energy_db)
    ref = float(np.median(energy_db[voiced])) if voiced.any() else float(energy_db.max())
    raw = voiced | (energy_db > ref - 20.0)
    gap = max(1, int(0.06 * fps))  # closes gaps of up to 2 frames (stop closures)
    speaking = binary_closing(raw, structure=np.ones(2 * gap + 1, bool)) | raw
    level = np.clip(_smooth(speaking.astype(float), max(1, int(round(0.3 * fps)))), 0.0, 1.0)
    min_pause = max(1, int(round(MIN_PAUSE_S * fps)))
    onsets = []
    for k in np.flatnonzero(speaking[:-1] & ~speaking[1:]) + 1:
        if not speaking[k : k + min_pause].any() and k + min_pause <= n:
            onsets.append(int(k))
    return Activity(speaking, level, np.asarray(onsets, dtype=int))


@dataclass(frozen=True)
class Emphasis:
    """frames: (K,) frame indices of prominent syllables (F0 and loudness peaks);
    strength: (K,) in [0.3, 1]."""

    frames: np.ndarray
    strength: np.ndarray


def emphasis_peaks(
    energy_db: np.ndarray, voiced: np.ndarray, f0: np.ndarray | None = None, fps: float = 25.0
) -> Emphasis:
    """Local maxima of prominence (0.6 · F0 z-score + 0.4 · loudness z-score; loudness alone
    without F0), at least 0.3 s apart, on voiced frames."""
    if not voiced.any():
        return Emphasis(np.zeros(0, int), np.zeros(0))
    e_ref = float(np.median(energy_db[voiced]))
    z_e = (energy_db - e_ref) / max(float(np.std(energy_db[voiced])), 3.0)
    prominence = z_e
    if f0 is not None and (f0 > 0).sum() >= 3:
        hz = np.where(f0 > 0, f0, np.nan)
        semis = 12.0 * np.log2(hz / np.nanmedian(hz))
        z_f0 = np.nan_to_num(semis / max(float(np.nanstd(semis)), 1.0), nan=0.0)
        prominence = 0.6 * z_f0 + 0.4 * z_e
    prominence = np.where(voiced, prominence, -2.0)
    prominence = np.convolve(np.pad(prominence, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    frames, props = find_peaks(prominence, height=0.2, distance=max(1, int(0.3 * fps)),
                               prominence=0.3)
    strength = np.clip(0.4 + 0.3 * props["peak_heights"], 0.3, 1.0)
    return Emphasis(frames.astype(int), strength)
