"""Speech fixtures: the committed sample and espeak-ng speech with a known pause."""

from __future__ import annotations

import io
import pathlib
import shutil
import subprocess
import wave
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import resample_poly

SAMPLE_WAV = pathlib.Path(__file__).parents[3] / "assets" / "samples" / "speech.wav"


def read_wav(data: bytes | pathlib.Path) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV -> ((n,) int16, rate)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with wave.open(source) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()


def espeak(text: str, voice: str = "en-us") -> np.ndarray:
    """Speech from espeak-ng resampled to 16 kHz: (n,) float32."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (scripts/setup.sh installs it)")
    raw = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text],
                         check=True, capture_output=True).stdout
    pcm, rate = read_wav(raw)
    return resample_poly(pcm / 32768.0, 16_000, rate).astype(np.float32)


@dataclass(frozen=True)
class PausedSpeech:
    """samples (n,) float32 at 16 kHz: speech, a 1 s gap of faint noise, speech; gap in samples."""

    samples: np.ndarray
    gap_start: int
    gap_end: int


@pytest.fixture(scope="session")
def sample_speech() -> tuple[np.ndarray, int]:
    return read_wav(SAMPLE_WAV)


@pytest.fixture(scope="session")
def paused_speech() -> PausedSpeech:
    first = espeak("Bob ate a blue plum by the map.")
    second = espeak("Who will see me in the morning?")
    gap = np.zeros(16_000, np.float32)
    x = np.concatenate([first, gap, second])
    # Faint room noise (-70 dBFS RMS) everywhere: the gap is quiet, not digital zero.
    x = x + np.random.default_rng(0).normal(0.0, 10 ** (-70 / 20), x.shape).astype(np.float32)
    return PausedSpeech(0.7 * x / np.abs(x).max(), len(first), len(first) + len(gap))
