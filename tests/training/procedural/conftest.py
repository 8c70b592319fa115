from dataclasses import dataclass

import numpy as np
import pytest

from model.audio.features import extract_features
from model.audio.types import AudioFeatures
from training.espeak import PhonemeEvent, synthesize
from training.procedural import estimate_f0
from training.texts import ENGLISH


@dataclass(frozen=True)
class Speech:
    """Synthetic speech with 0.5 s of silence before it and 1 s after, on one clock."""

    samples: np.ndarray
    sample_rate: int
    phonemes: list[PhonemeEvent]
    features: AudioFeatures
    f0: np.ndarray


def make_speech(texts: list[str], gaps: list[float], voice: str = "en-us+m3") -> Speech:
    """Each text spoken separately, preceded by 0.5 s of silence and followed by its gap (s)."""
    parts, phonemes = [], []
    offset = 0.5
    sr = 22_050
    parts.append(np.zeros(int(offset * sr), np.float32))
    for text, gap in zip(texts, gaps):
        synth = synthesize(text, voice=voice)
        sr = synth.sample_rate
        phonemes += [PhonemeEvent(p.symbol, p.start + offset, p.end + offset) for p in synth.phonemes]
        parts += [synth.samples, np.zeros(int(gap * sr), np.float32)]
        offset += (len(synth.samples) + int(gap * sr)) / sr
    samples = np.concatenate(parts)
    features = extract_features(samples, sr)
    return Speech(samples, sr, phonemes, features, estimate_f0(samples, sr, len(features)))


@pytest.fixture(scope="session")
def speech() -> Speech:
    """About 8 s of English with comma and sentence pauses."""
    return make_speech(["Hello there, my name is Bob. Please bring the blue book back by Monday. "
                        "Who wants the last piece of pie? We watched the boats from the beach."], [1.0])


@pytest.fixture(scope="session")
def minute_of_speech() -> Speech:
    """About a minute of English: 30 sentences with 0.3-1.5 s pauses between them."""
    return make_speech(list(ENGLISH[:30]), [0.3, 0.8, 1.5] * 10)
