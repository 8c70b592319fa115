"""On-disk format of a motion training corpus, shared by the corpus builders and the trainer.

A corpus is a directory holding:
- ``corpus.npz``: ``motion`` (N, MOTION_DIM) float32 target motion of all clips, concatenated;
  ``audio`` (N, AUDIO_DIM) float32 per-frame audio condition vectors
  (``AudioFeatures.frame_vectors()``), aligned row for row with ``motion``; ``offsets``
  (n_clips + 1,) int64 clip boundaries into those rows; ``emotion`` (n_clips,) int64 index
  into ``model.controls.EMOTIONS``.
- ``corpus.json``: ``{"clips": [{"id", "source", "voice", "language", "split", ...}], ...}``
  with one entry per clip (``split`` is ``"train"`` or ``"eval"``) plus builder settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.audio.types import AUDIO_DIM
from model.motion.space import MOTION_DIM


@dataclass
class Corpus:
    """motion: (N, MOTION_DIM); audio: (N, AUDIO_DIM); offsets: (n_clips + 1,); emotion: (n_clips,)."""

    motion: np.ndarray
    audio: np.ndarray
    offsets: np.ndarray
    emotion: np.ndarray
    clips: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.offsets[-1] if len(self.offsets) else 0
        if self.motion.shape != (n, MOTION_DIM) or self.audio.shape != (n, AUDIO_DIM):
            raise ValueError(
                f"corpus arrays disagree: motion {self.motion.shape}, audio {self.audio.shape}, "
                f"offsets end at {n}"
            )
        if len(self.emotion) != len(self.clips) or len(self.offsets) != len(self.clips) + 1:
            raise ValueError("corpus clip metadata disagrees with offsets/emotion")

    def __len__(self) -> int:
        return len(self.clips)

    def clip_slice(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def split_indices(self, split: str) -> list[int]:
        return [i for i, clip in enumerate(self.clips) if clip.get("split") == split]

    @classmethod
    def from_clips(
        cls,
        motions: list[np.ndarray],
        audios: list[np.ndarray],
        emotions: list[int],
        clips: list[dict[str, Any]],
        settings: dict[str, Any] | None = None,
    ) -> "Corpus":
        lengths = [len(m) for m in motions]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        empty_m = np.zeros((0, MOTION_DIM), np.float32)
        empty_a = np.zeros((0, AUDIO_DIM), np.float32)
        return cls(
            motion=np.concatenate(motions).astype(np.float32) if motions else empty_m,
            audio=np.concatenate(audios).astype(np.float32) if audios else empty_a,
            offsets=offsets,
            emotion=np.asarray(emotions, dtype=np.int64),
            clips=clips,
            settings=settings or {},
        )

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / "corpus.npz",
            motion=self.motion,
            audio=self.audio,
            offsets=self.offsets,
            emotion=self.emotion,
        )
        (directory / "corpus.json").write_text(
            json.dumps({"clips": self.clips, "settings": self.settings}, indent=1)
        )

    @classmethod
    def load(cls, directory: Path) -> "Corpus":
        arrays = np.load(directory / "corpus.npz")
        meta = json.loads((directory / "corpus.json").read_text())
        return cls(
            motion=arrays["motion"],
            audio=arrays["audio"],
            offsets=arrays["offsets"],
            emotion=arrays["emotion"],
            clips=meta["clips"],
            settings=meta.get("settings", {}),
        )
