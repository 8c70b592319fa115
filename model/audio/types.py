"""Typed audio features, aligned to video frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000  # features are computed at this rate
FPS = 25  # video frames per second
STEPS_PER_FRAME = 2  # mel steps per video frame (hop = 20 ms)
HOP = SAMPLE_RATE // (FPS * STEPS_PER_FRAME)  # 320 samples
N_MELS = 40
AUDIO_DIM = STEPS_PER_FRAME * N_MELS + 2  # per-frame condition vector: mels, energy, voiced


@dataclass(frozen=True)
class AudioFeatures:
    """Audio features for T video frames at ``FPS``.

    mel: (T, STEPS_PER_FRAME, N_MELS) float32 natural-log mel energies (HTK mel scale,
        no per-utterance normalisation, so the same audio gives the same features whether it
        arrives whole or streamed).
    energy: (T,) float32 frame loudness in dBFS (RMS), floored at -100.
    voiced: (T,) bool voice activity.
    """

    mel: np.ndarray
    energy: np.ndarray
    voiced: np.ndarray

    def __len__(self) -> int:
        return int(self.mel.shape[0])

    def frame_vectors(self) -> np.ndarray:
        """(T, AUDIO_DIM) float32 per-frame condition vectors: flattened mels, energy scaled
        to roughly [-1, 1] (0 dBFS -> 1, -100 dBFS -> -1), voiced as 0/1."""
        t = len(self)
        return np.concatenate(
            [
                self.mel.reshape(t, -1),
                (self.energy[:, None] / 50.0 + 1.0),
                self.voiced[:, None].astype(np.float32),
            ],
            axis=1,
        ).astype(np.float32)

    def slice(self, start: int, stop: int) -> "AudioFeatures":
        return AudioFeatures(self.mel[start:stop], self.energy[start:stop], self.voiced[start:stop])
