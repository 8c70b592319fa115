"""Mouth shapes from espeak phonemes: viseme targets blended by dominance functions.

Each phoneme gets a target (jaw_open, lip_width, lip_round, lip_press) and, per parameter, a
dominance weight (Cohen & Massaro 1993): a plateau over the phoneme's span with exponential
tails before it (anticipation) and after it (carry-over). A frame's mouth is the
dominance-weighted mean of all targets, so weakly specified sounds (h, k) take their shape from
the neighbouring vowels, lip rounding spreads ahead of a rounded vowel, and bilabials, which
dominate jaw and press, still close the lips. Symbols are mapped by their letters, so every
espeak language works; an unknown symbol counts as a neutral half-open vowel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, Sequence

import numpy as np

JAW, WIDTH, ROUND, PRESS = range(4)  # columns of the (T, 4) mouth array

LEAD_S = 0.02  # visible articulation runs slightly ahead of the sound
DIPHTHONG_SPLIT = 0.55  # share of a diphthong's span held by its first quality
CLOSED_JAW = 0.02  # jaw at the frame that shows a bilabial closure


class Phoneme(Protocol):
    symbol: str
    start: float
    end: float


@dataclass(frozen=True)
class Viseme:
    """target and weight: (jaw_open, lip_width, lip_round, lip_press); tails: seconds of
    dominance decay (e-folding) before the segment (anticipation) and after it (carry-over)."""

    target: tuple[float, float, float, float]
    weight: tuple[float, float, float, float]
    tails: tuple[float, float]

    @property
    def closes_lips(self) -> bool:
        return self.target[PRESS] >= 0.99


_VOWEL_W = (1.0, 1.0, 1.0, 1.0)
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "a": (0.72, 0.15, 0.0, 0.0), "A": (0.80, 0.0, 0.05, 0.0), "&": (0.62, 0.35, 0.0, 0.0),
    "V": (0.55, 0.05, 0.0, 0.0), "@": (0.32, 0.05, 0.05, 0.0), "3": (0.36, 0.0, 0.15, 0.0),
    "e": (0.34, 0.50, 0.0, 0.0), "E": (0.48, 0.35, 0.0, 0.0), "i": (0.14, 0.80, 0.0, 0.0),
    "I": (0.22, 0.55, 0.0, 0.0), "8": (0.20, 0.0, 0.35, 0.0), "o": (0.36, -0.45, 0.75, 0.0),
    "O": (0.50, -0.25, 0.55, 0.0), "0": (0.55, -0.10, 0.40, 0.0), "u": (0.15, -0.60, 0.95, 0.0),
    "U": (0.22, -0.45, 0.75, 0.0), "y": (0.15, -0.45, 0.85, 0.0), "Y": (0.30, -0.35, 0.70, 0.0),
    "W": (0.42, -0.25, 0.55, 0.0),
}


def _vowel(target: tuple[float, float, float, float]) -> "Viseme":
    return Viseme(target, _VOWEL_W, VOWEL_TAILS)


VOWEL_TAILS = (0.07, 0.045)
NEUTRAL_VOWEL = Viseme((0.38, 0.10, 0.10, 0.0), _VOWEL_W, VOWEL_TAILS)

# Consonant classes: (letters that start the symbol, viseme). Lip closures and lip-teeth
# contacts dominate jaw and press but only briefly (short tails), so they close the mouth
# without flattening the vowels around them; rounding comes from the neighbouring vowels.
_CONSONANTS: tuple[tuple[str, Viseme], ...] = (
    ("pbmP", Viseme((0.0, 0.0, 0.0, 1.0), (1.5, 0.3, 0.2, 4.0), (0.035, 0.025))),
    ("B", Viseme((0.05, 0.0, 0.1, 0.6), (2.0, 0.3, 0.2, 2.0), (0.035, 0.025))),  # es β
    ("fvF", Viseme((0.06, -0.05, 0.0, 0.45), (2.5, 0.4, 0.3, 2.5), (0.035, 0.025))),
    ("w", Viseme((0.10, -0.60, 0.90, 0.0), (0.8, 2.0, 2.0, 0.5), (0.06, 0.04))),
    ("SZ", Viseme((0.12, -0.30, 0.55, 0.0), (0.8, 1.2, 1.2, 0.5), (0.05, 0.035))),
    ("sz", Viseme((0.08, 0.30, 0.0, 0.0), (1.2, 0.5, 0.2, 0.5), (0.05, 0.035))),
    ("TD", Viseme((0.14, 0.15, 0.0, 0.0), (0.8, 0.3, 0.2, 0.5), (0.05, 0.035))),
    ("tdnlr*", Viseme((0.16, 0.12, 0.0, 0.0), (0.6, 0.3, 0.2, 0.5), (0.05, 0.035))),
    ("jJcCL", Viseme((0.12, 0.45, 0.0, 0.0), (0.6, 0.6, 0.2, 0.5), (0.05, 0.035))),
    ("kgNxQGqXR", Viseme((0.22, 0.05, 0.0, 0.0), (0.3, 0.2, 0.1, 0.5), (0.05, 0.035))),
    ("hH?", Viseme((0.30, 0.0, 0.0, 0.0), (0.1, 0.1, 0.1, 0.3), (0.05, 0.035))),
)
# Pauses close the mouth firmly inside, but barely reach into the speech around them.
PAUSE = Viseme((0.0, 0.0, 0.0, 0.10), (4.0, 1.5, 1.5, 2.0), (0.03, 0.03))
WEAK = Viseme((0.30, 0.0, 0.0, 0.0), (0.05, 0.05, 0.05, 0.05), (0.05, 0.035))  # bare modifiers
# Length, stress, palatalisation and variant marks; "0", "3" and "8" are vowels (ɒ ɜ ɵ).
_MODIFIERS = set(":;#-^.`=!%~',|1245679")


def _consonant(letter: str) -> Viseme | None:
    for letters, viseme in _CONSONANTS:
        if letter in letters:
            return viseme
    return None


@lru_cache(maxsize=4096)
def visemes_of(symbol: str) -> tuple[Viseme, ...]:
    """The viseme(s) of one espeak phoneme mnemonic; two or three for a diphthong (``aI``)."""
    if symbol.startswith("_"):
        return (PAUSE,)
    core = "".join(ch for ch in symbol if ch not in _MODIFIERS)
    if not core:
        return (WEAK,)
    if core[:2] in ("tS", "dZ"):
        return (_consonant("S"),)  # type: ignore[return-value]
    if core[0] in VOWELS:
        run = []
        for ch in core[:3]:
            if ch not in VOWELS:
                break
            run.append(_vowel(VOWELS[ch]))
        return tuple(run)
    first = _consonant(core[0])
    if first is None:
        return (NEUTRAL_VOWEL,)
    if core[0] in "jw" and len(core) > 1 and core[1] in VOWELS:  # glide + vowel (ru "ju")
        return (first, _vowel(VOWELS[core[1]]))
    return (first,)


@dataclass(frozen=True)
class Segments:
    """start, end: (n,) s; target, weight: (n, 4); tails: (n, 2) s; closes: (n,) bool
    bilabial closures."""

    start: np.ndarray
    end: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    tails: np.ndarray
    closes: np.ndarray


def segments(phonemes: Sequence[Phoneme], duration: float) -> Segments:
    """Viseme segments covering [0, duration]; gaps before/after speech become pauses."""
    spans: list[tuple[float, float, Viseme]] = []
    cursor = 0.0
    for ph in phonemes:
        start, end = max(ph.start, cursor), min(ph.end, duration)
        if end <= start:
            continue
        if start > cursor + 1e-6:
            spans.append((cursor, start, PAUSE))
        parts = visemes_of(ph.symbol)
        bounds = _split(start, end, len(parts))
        spans.extend((bounds[i], bounds[i + 1], parts[i]) for i in range(len(parts)))
        cursor = end
    if duration > cursor + 1e-6 or not spans:
        spans.append((cursor, max(duration, cursor + 1e-3), PAUSE))
    return Segments(
        start=np.array([s[0] for s in spans]),
        end=np.array([s[1] for s in spans]),
        target=np.array([s[2].target for s in spans]),
        weight=np.array([s[2].weight for s in spans]),
        tails=np.array([s[2].tails for s in spans]),
        closes=np.array([s[2].closes_lips for s in spans]),
    )


def _split(start: float, end: float, parts: int) -> list[float]:
    if parts == 1:
        return [start, end]
    if parts == 2:
        return [start, start + DIPHTHONG_SPLIT * (end - start), end]
    return list(np.linspace(start, end, parts + 1))


def blend(seg: Segments, times: np.ndarray) -> np.ndarray:
    """(T,) evaluation times in s -> (T, 4) dominance-weighted mouth parameters."""
    t = times[None, :]  # (1, T)
    before = np.maximum(seg.start[:, None] - t, 0.0) / seg.tails[:, :1]  # (n, T)
    after = np.maximum(t - seg.end[:, None], 0.0) / seg.tails[:, 1:]
    falloff = np.exp(-np.minimum(before + after, 50.0))  # (n, T)
    dominance = falloff[:, :, None] * seg.weight[:, None, :]  # (n, T, 4)
    total = dominance.sum(axis=0)
    return (dominance * seg.target[:, None, :]).sum(axis=0) / np.maximum(total, 1e-12)


def mouth_from_phonemes(phonemes: Sequence[Phoneme], n_frames: int, fps: float) -> np.ndarray:
    """(T, 4) jaw_open, lip_width, lip_round, lip_press at frame centres.

    A bilabial may be shorter than a frame and fall between frame centres, so the lips are
    forced shut (press 1, jaw ~0) on the frames that show its middle: the frame where the
    closure is seen (LEAD_S ahead of the sound) and the frame playing while it sounds. A real
    /p b m/ closure lasts 50-100 ms, so two frames (80 ms) is its natural length, and a viewer
    watching either the lead or the sound sees the lips meet.
    """
    seg = segments(phonemes, n_frames / fps)
    times = (np.arange(n_frames) + 0.5) / fps + LEAD_S
    mouth = blend(seg, times)
    middles = (seg.start[seg.closes] + seg.end[seg.closes]) / 2.0
    for shift in (LEAD_S, 0.0):
        frames = np.clip(np.floor((middles - shift) * fps).astype(int), 0, n_frames - 1)
        mouth[frames, PRESS] = 1.0
        mouth[frames, JAW] = np.minimum(mouth[frames, JAW], CLOSED_JAW)
    return mouth


def mouth_from_energy(energy_db: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """(T, 4) fallback without phonemes (e.g. a real recording): jaw follows loudness while
    voiced and closes otherwise; lips stay neutral."""
    speech = energy_db[voiced]
    ref = float(np.median(speech)) if speech.size else -30.0
    level = np.clip((energy_db - (ref - 25.0)) / 30.0, 0.0, 1.0) * voiced
    kernel = np.array([0.25, 0.5, 0.25])
    jaw = np.convolve(level, kernel, mode="same") * 0.6
    mouth = np.zeros((len(energy_db), 4))
    mouth[:, JAW] = jaw
    mouth[:, PRESS] = 0.1 * (jaw < 0.05)
    return mouth


LOUDNESS_GAIN_PER_DB = 0.05  # jaw scale per dB above/below the utterance's median speech level
LOUDNESS_GAIN_RANGE = (0.5, 1.5)


def loudness_gain(energy_db: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """(T,) jaw scale in LOUDNESS_GAIN_RANGE: stressed, louder syllables open wider and reduced,
    quiet ones barely open, as in real speech (vocal effort drives jaw opening). Measured on
    rendered frames (benchmarks.model_eval), 0.02/dB within [0.8, 1.2] left the aperture's
    correlation with loudness below real talkers'; 0.05/dB raised it by ~0.015 r."""
    speech = energy_db[voiced]
    if speech.size == 0:
        return np.ones(len(energy_db))
    low, high = LOUDNESS_GAIN_RANGE
    gain = np.clip(1.0 + LOUDNESS_GAIN_PER_DB * (energy_db - float(np.median(speech))), low, high)
    return np.convolve(np.pad(gain, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")
