"""Small synthetic corpora and networks for the diffusion and training tests.

The synthetic motion follows its audio (jaw_open tracks a loudness envelope one frame late, lip
corners follow the emotion, the head sways slowly), so a model can learn something in a few
dozen steps and a trained model gives smooth motion.
"""

from __future__ import annotations

import numpy as np
import torch

from model.audio.types import AUDIO_DIM
from model.diffusion.network import MotionDiT, MotionDiTConfig
from model.motion.space import MOTION_DIM, Field
from training.corpus_format import Corpus


def tiny_config(**overrides: int) -> MotionDiTConfig:
    base = dict(d_model=32, n_layers=2, n_heads=2, mlp_ratio=2, window=16, context=4)
    base.update(overrides)
    return MotionDiTConfig(**base)


def random_network(cfg: MotionDiTConfig | None = None, seed: int = 0) -> MotionDiT:
    """An untrained network whose blocks are not identities (adaLN-Zero starts at zero)."""
    torch.manual_seed(seed)
    net = MotionDiT(cfg or tiny_config())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net.eval()


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(width) / width
    return np.convolve(np.pad(x, (width, width), mode="edge"), kernel, mode="same")[width:-width]


def synthetic_clip(rng: np.random.Generator, frames: int, emotion: int) -> tuple[np.ndarray, np.ndarray]:
    """(motion (T, MOTION_DIM), audio (T, AUDIO_DIM)) of one synthetic clip."""
    envelope = 1.0 / (1.0 + np.exp(-6.0 * _smooth(_smooth(rng.normal(size=frames), 9), 9)))
    audio = np.empty((frames, AUDIO_DIM), np.float32)
    spectrum = rng.normal(size=AUDIO_DIM - 2)
    audio[:, :-2] = -6.0 + 4.0 * envelope[:, None] * (1 + 0.2 * spectrum) + 0.1 * rng.normal(
        size=(frames, AUDIO_DIM - 2))
    audio[:, -2] = envelope * 1.2 - 0.6
    audio[:, -1] = (envelope > 0.2).astype(np.float32)
    motion = np.zeros((frames, MOTION_DIM), np.float32)
    t = np.arange(frames) / 25.0
    phase = rng.uniform(0, 2 * np.pi)
    motion[:, Field.YAW] = 0.1 * np.sin(1.3 * t + phase)
    motion[:, Field.PITCH] = 0.05 * np.sin(0.9 * t + 2 * phase)
    motion[:, Field.JAW_OPEN] = np.concatenate([[0.0], envelope[:-1]]) * 0.8
    motion[:, Field.LIP_CORNER] = 0.3 * (emotion == 1) - 0.2 * (emotion == 2)
    motion[:, Field.SCALE] = rng.uniform(-0.1, 0.1)
    motion[:, Field.GAZE_X] = rng.uniform(-0.3, 0.3)
    return motion, audio


def synthetic_corpus(clips: int = 12, seed: int = 0, metadata: bool = True) -> Corpus:
    rng = np.random.default_rng(seed)
    motions, audios, emotions, meta = [], [], [], []
    for i in range(clips):
        emotion = int(rng.integers(0, 3))
        motion, audio = synthetic_clip(rng, int(rng.integers(12, 90)), emotion)
        motions.append(motion)
        audios.append(audio)
        emotions.append(emotion)
        entry = {"id": f"c{i}", "source": "synthetic", "voice": "none", "language": "en",
                 "split": "eval" if i % 4 == 3 else "train"}
        if metadata:
            entry["gaze"] = [float(motion[0, Field.GAZE_X]), 0.0]
            entry["distance"] = float(motion[0, Field.SCALE])
        meta.append(entry)
    return Corpus.from_clips(motions, audios, emotions, meta, {"builder": "test"})
