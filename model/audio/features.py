"""Frame-aligned audio features: log-mel, loudness and voice activity at 25 fps.

Timeline (at 16 kHz): video frame ``t`` covers samples ``[640 t, 640 t + 640)``; its two mel
steps are centred at ``640 t + 160`` and ``640 t + 480`` (hop 320, Hann window 320, n_fft 512,
so the two windows tile the frame exactly and never reach past its end). ``T = ceil(n16 / 640)``; the tail is
zero-padded.

Everything per frame depends only on a bounded neighbourhood of samples, and voice activity only
on frames ``t - HANGOVER_FRAMES .. t + 1``, so ``streaming.StreamingFeatureExtractor`` computes
the very same numbers from chunks with exactly one frame (40 ms) of look-ahead.

Voice activity rule (per 40 ms frame)::

    loud[t]     = energy[t] >= VAD_FLOOR_DBFS
    periodic[t] = loud[t] and periodicity[t] >= VAD_MIN_PERIODICITY
    support[t]  = number of periodic frames in t - HANGOVER_FRAMES .. t + 1
    voiced[t]   = support[t] >= 2 and (loud[t] or (periodic[t - 1] and periodic[t + 1]))

``periodicity`` is the highest local peak, over lags of 2.5-16.7 ms (60-400 Hz pitch), of the
frame's normalised autocorrelation computed from its square-root-compressed 80-3000 Hz
spectrum (compression whitens formants and coloured noise). Requiring two periodic frames
rejects isolated noise blips; the hangover keeps unvoiced consonants after a vowel while the
signal stays loud; a single quiet frame between periodic frames (a stop closure) is filled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import firwin, resample_poly

from model.audio.types import FPS, HOP, N_MELS, SAMPLE_RATE, STEPS_PER_FRAME, AudioFeatures
from model.errors import AudioClipped, AudioCorrupt, AudioEmpty, AudioSilent, AudioTooLong

FRAME = SAMPLE_RATE // FPS  # 640 samples per video frame
WIN = 320  # 20 ms mel analysis window: each step's window stays inside its own frame
N_FFT = 512
PAD = WIN // 2 - HOP // 2  # 0: how far the first/last window reaches outside its frame
FMIN, FMAX = 60.0, 7600.0
LOG_FLOOR = 1e-10
ENERGY_FLOOR_DBFS = -100.0

MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_CHANNELS = 32
MAX_RATIO_DENOMINATOR = 1000  # rational approximation of odd rates keeps the FIR short

VAD_FLOOR_DBFS = -50.0
VAD_MIN_PERIODICITY = 0.4
HANGOVER_FRAMES = 4  # 160 ms
LOOKAHEAD_FRAMES = 1  # 40 ms
MEASURE_BLOCK = FPS * 60  # frames measured per vectorised step
_PITCH_LAGS = (SAMPLE_RATE // 400, SAMPLE_RATE // 60)  # 40..266 samples
_PITCH_BAND = (80.0, 3000.0)
_PITCH_NFFT = 2048  # >= 2 * FRAME: no circular wrap of the autocorrelation


@dataclass(frozen=True)
class AudioLimits:
    """Whole-audio acceptance limits.

    max_seconds / min_seconds: accepted duration.
    silence_dbfs: the loudest 40 ms frame must reach this RMS level.
    clip_level: |sample| at or above this counts as full scale.
    max_clip_fraction: more samples than this at full scale means clipped beyond use
        (3x overdriven speech is ~4 %, 5x ~11 %).
    max_clip_run_ms: a flat top longer than this (longer than a pitch period) is unusable.
    """

    max_seconds: float = 600.0
    min_seconds: float = 0.2
    silence_dbfs: float = -60.0
    clip_level: float = 0.999
    max_clip_fraction: float = 0.05
    max_clip_run_ms: float = 10.0


# --------------------------------------------------------------------------- validation


def check_rate(sample_rate: int) -> int:
    """Return the rate as int; AudioCorrupt unless it is a whole number in [8 kHz, 192 kHz]."""
    numeric = (int, float, np.integer, np.floating)
    ok = isinstance(sample_rate, numeric) and not isinstance(sample_rate, bool)
    if ok and float(sample_rate).is_integer() and MIN_RATE <= sample_rate <= MAX_RATE:
        return int(sample_rate)
    raise AudioCorrupt(
        f"sample rate {sample_rate!r} is not supported (need {MIN_RATE}-{MAX_RATE} Hz)",
        sample_rate=sample_rate, min_rate=MIN_RATE, max_rate=MAX_RATE,
    )


def check_shape(samples: np.ndarray) -> None:
    """AudioCorrupt unless a (n,) or (n, c) numpy array; AudioEmpty if n == 0."""
    if not isinstance(samples, np.ndarray):
        raise AudioCorrupt("audio samples must be a numpy array", type=type(samples).__name__)
    channels_ok = samples.ndim == 1 or (samples.ndim == 2 and 1 <= samples.shape[1] <= MAX_CHANNELS)
    if not channels_ok:
        raise AudioCorrupt(
            "audio must have shape (samples,) or (samples, channels)", shape=samples.shape,
        )
    if samples.shape[0] == 0:
        raise AudioEmpty("audio has no samples", shape=samples.shape)


def as_float_channels(samples: np.ndarray) -> np.ndarray:
    """(n,) or (n, c) float/int16/int32 PCM -> (n, c) float32 in [-1, 1]. AudioCorrupt on a
    wrong type, shape, dtype or non-finite values; AudioEmpty on no samples."""
    check_shape(samples)
    x = samples if samples.ndim == 2 else samples[:, None]
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    if x.dtype == np.int32:
        return (x.astype(np.float64) / 2147483648.0).astype(np.float32)
    if x.dtype not in (np.float16, np.float32, np.float64):
        raise AudioCorrupt(f"unsupported sample dtype {x.dtype}", dtype=str(x.dtype))
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise AudioCorrupt("audio contains NaN or infinite samples",
                           bad_samples=int((~np.isfinite(x)).sum()))
    peak = float(np.abs(x).max())
    if peak > 4.0:  # far outside [-1, 1]: unscaled integer PCM passed as float
        raise AudioCorrupt("float samples must lie in [-1, 1]", peak=peak)
    return np.clip(x, -1.0, 1.0) if peak > 1.0 else x


def check_duration(n: int, sample_rate: int, limits: AudioLimits) -> None:
    seconds = n / sample_rate
    if seconds > limits.max_seconds:
        raise AudioTooLong(f"audio is {seconds:.1f} s; the limit is {limits.max_seconds:g} s",
                           seconds=seconds, max_seconds=limits.max_seconds)
    if seconds < limits.min_seconds:
        raise AudioEmpty(f"audio is {seconds:.3f} s; at least {limits.min_seconds:g} s needed",
                         seconds=seconds, min_seconds=limits.min_seconds)


def clipping_stats(x: np.ndarray, sample_rate: int, level: float) -> tuple[float, float]:
    """(fraction of samples at full scale in any channel, longest full-scale run in ms)."""
    full = (np.abs(x) >= level).any(axis=1)
    if not full.any():
        return 0.0, 0.0
    edges = np.diff(np.concatenate(([0], full.view(np.int8), [0])))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return float(full.mean()), 1000.0 * float(runs.max()) / sample_rate


def check_clipping(x: np.ndarray, sample_rate: int, limits: AudioLimits) -> None:
    fraction, run_ms = clipping_stats(x, sample_rate, limits.clip_level)
    if fraction > limits.max_clip_fraction or run_ms > limits.max_clip_run_ms:
        raise AudioClipped(
            f"audio is clipped: {100 * fraction:.1f} % of samples at full scale, "
            f"longest flat top {run_ms:.1f} ms",
            clipped_fraction=fraction, longest_run_ms=run_ms,
            max_clip_fraction=limits.max_clip_fraction, max_clip_run_ms=limits.max_clip_run_ms,
        )


def check_not_silent(features: AudioFeatures, limits: AudioLimits) -> None:
    peak = float(features.energy.max())
    if peak < limits.silence_dbfs:
        raise AudioSilent(f"audio is silent: loudest frame {peak:.1f} dBFS",
                          peak_dbfs=peak, silence_dbfs=limits.silence_dbfs)
    if not features.voiced.any():
        raise AudioSilent("no speech detected in the audio", peak_dbfs=peak, voiced_frames=0)


# --------------------------------------------------------------------------- resampling


def resample_ratio(sample_rate: int) -> tuple[int, int]:
    """(up, down) with up / down ~= SAMPLE_RATE / sample_rate (exact for common rates)."""
    ratio = Fraction(SAMPLE_RATE, sample_rate).limit_denominator(MAX_RATIO_DENOMINATOR)
    return ratio.numerator, ratio.denominator


@lru_cache(maxsize=16)
def resample_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR scipy's resample_poly designs by default, gain ``up`` included:
    (2 * 10 * max(up, down) + 1,) float64. Shared by the offline and streaming paths."""
    if up == down:  # identity: a single unit tap
        return np.ones(1)
    half_len = 10 * max(up, down)
    h = firwin(2 * half_len + 1, 1.0 / max(up, down), window=("kaiser", 5.0)) * up
    h.setflags(write=False)
    return h


def to_model_rate(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n,) float32 at sample_rate -> (ceil(n * up / down),) float32 at 16 kHz."""
    up, down = resample_ratio(sample_rate)
    if up == down:
        return mono
    h = resample_filter(up, down) / up  # resample_poly multiplies a given window by up
    return resample_poly(mono, up, down, window=h).astype(np.float32)


# --------------------------------------------------------------------------- features


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) float32 HTK-mel triangles, no area normalisation."""
    def to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges_mel = np.linspace(to_mel(np.array(FMIN)), to_mel(np.array(FMAX)), N_MELS + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    fb.setflags(write=False)
    return fb


@lru_cache(maxsize=1)
def _windows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periodic Hann for mels (WIN,), symmetric-ish Hann for pitch (FRAME,), and the pitch
    window's normalised autocorrelation (FRAME + 1,) used to undo its taper."""
    mel_win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)
    pitch_win = np.hanning(FRAME + 2)[1:-1].astype(np.float32)
    rw = np.fft.irfft(np.abs(np.fft.rfft(pitch_win, _PITCH_NFFT)) ** 2)[: FRAME + 1]
    return mel_win, pitch_win, rw / rw[0]


def periodicity(frames: np.ndarray) -> np.ndarray:
    """(T, FRAME) -> (T,) float32 highest local autocorrelation peak at pitch lags (~0.2 for
    noise, 0.5-0.9 for voiced speech)."""
    _, win, rw = _windows()
    centred = (frames - frames.mean(axis=1, keepdims=True)) * win
    spec = np.abs(np.fft.rfft(centred, _PITCH_NFFT, axis=1))  # |X| = (|X|^2)^0.5
    freqs = np.fft.rfftfreq(_PITCH_NFFT, 1.0 / SAMPLE_RATE)
    spec[:, (freqs < _PITCH_BAND[0]) | (freqs > _PITCH_BAND[1])] = 0.0
    r = np.fft.irfft(spec, _PITCH_NFFT, axis=1)[:, : FRAME + 1]
    r = r / np.maximum(r[:, :1], 1e-20) / rw
    lo, hi = _PITCH_LAGS
    seg = r[:, lo - 1 : hi + 2]
    mid = seg[:, 1:-1]
    peak = (mid >= seg[:, :-2]) & (mid >= seg[:, 2:])
    return np.where(peak, mid, -1.0).max(axis=1).astype(np.float32)


@dataclass(frozen=True)
class FrameMeasures:
    """Per-frame measures before the voice decision. mel (T, STEPS_PER_FRAME, N_MELS),
    energy (T,) dBFS, periodic (T,) bool, loud (T,) bool."""

    mel: np.ndarray
    energy: np.ndarray
    periodic: np.ndarray
    loud: np.ndarray


def concat_measures(parts: list[FrameMeasures]) -> FrameMeasures:
    return FrameMeasures(*(np.concatenate(field) for field in zip(
        *((p.mel, p.energy, p.periodic, p.loud) for p in parts))))


def frame_measures(padded: np.ndarray, n_frames: int) -> FrameMeasures:
    """Measures for ``n_frames`` frames from ``padded``: 16 kHz samples starting PAD samples
    before the first frame, at least ``FRAME * n_frames + 2 * PAD`` long."""
    mel_win, _, _ = _windows()
    steps = sliding_window_view(padded, WIN)[:: HOP][: n_frames * STEPS_PER_FRAME]
    power = np.abs(np.fft.rfft(steps * mel_win, N_FFT, axis=1)) ** 2
    mel = np.log(np.maximum(power @ mel_filterbank().T, LOG_FLOOR)).astype(np.float32)
    frames = padded[PAD : PAD + n_frames * FRAME].reshape(n_frames, FRAME)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    energy = np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), ENERGY_FLOOR_DBFS)
    loud = energy >= VAD_FLOOR_DBFS
    periodic = loud & (periodicity(frames) >= VAD_MIN_PERIODICITY)
    return FrameMeasures(mel.reshape(n_frames, STEPS_PER_FRAME, N_MELS),
                         energy.astype(np.float32), periodic, loud)


def voice_decisions(loud: np.ndarray, periodic_ext: np.ndarray) -> np.ndarray:
    """(T,) voiced flags. periodic_ext: (HANGOVER_FRAMES + T + LOOKAHEAD_FRAMES,) periodic
    flags of the frames before, of, and after the T frames (False where there are none)."""
    n = loud.shape[0]
    width = HANGOVER_FRAMES + 1 + LOOKAHEAD_FRAMES
    support = sliding_window_view(periodic_ext.astype(np.int32), width).sum(axis=1)[:n]
    before = periodic_ext[HANGOVER_FRAMES - 1 : HANGOVER_FRAMES - 1 + n]
    after = periodic_ext[HANGOVER_FRAMES + 1 : HANGOVER_FRAMES + 1 + n]
    return (support >= 2) & (loud | (before & after))


def features_16k(x16: np.ndarray) -> AudioFeatures:
    """(n16,) float32 at 16 kHz -> AudioFeatures for ceil(n16 / FRAME) frames."""
    n_frames = math.ceil(x16.shape[0] / FRAME)
    padded = np.zeros(n_frames * FRAME + 2 * PAD, dtype=np.float32)
    padded[PAD : PAD + x16.shape[0]] = x16
    # Blocks of a minute bound the FFT work arrays on long uploads (~40 MB instead of ~400).
    m = concat_measures([
        frame_measures(padded[start * FRAME :], min(MEASURE_BLOCK, n_frames - start))
        for start in range(0, n_frames, MEASURE_BLOCK)
    ])
    ext = np.concatenate([np.zeros(HANGOVER_FRAMES, bool), m.periodic,
                          np.zeros(LOOKAHEAD_FRAMES, bool)])
    return AudioFeatures(m.mel, m.energy, voice_decisions(m.loud, ext))


def extract_features(
    samples: np.ndarray, sample_rate: int, limits: AudioLimits = AudioLimits()
) -> AudioFeatures:
    """Whole-utterance features. samples: (n,) or (n, c) float in [-1, 1] or int16/int32 PCM
    at any rate in [8 kHz, 192 kHz]. Checks, in order: rate and shape (AudioCorrupt, AudioEmpty),
    duration (AudioTooLong, AudioEmpty if under min_seconds), dtype and values (AudioCorrupt),
    clipping (AudioClipped), and after extraction silence / no speech (AudioSilent)."""
    rate = check_rate(sample_rate)
    check_shape(samples)
    check_duration(samples.shape[0], rate, limits)  # before converting a huge array
    x = as_float_channels(samples)
    check_clipping(x, rate, limits)
    mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
    features = features_16k(to_model_rate(np.ascontiguousarray(mono), rate))
    check_not_silent(features, limits)
    return features
