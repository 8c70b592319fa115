"""Generated talking-head clips for the watermark benchmarks, cached losslessly on disk.

Variety comes from the evaluation portraits (``benchmarks.model_eval.inputs``) with flips, crops
and colour shifts, the evaluation voices (espeak-ng) and diffusion seeds. Clips are rendered once
and stored as lossless RGB H.264 (``libx264rgb``, CRF 0) in ``WATERMARK_CLIP_CACHE``
(default /tmp/likeness-watermark-clips), so reruns of a benchmark skip the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from benchmarks.model_eval.inputs import EVAL_PORTRAIT_LIMITS, PORTRAITS, ROOT, UTTERANCES, speak
from model.controls import EMOTIONS, Controls
from model.pipeline import TalkingHeadPipeline
from service.media.image import load_image

CACHE = Path(os.environ.get("WATERMARK_CLIP_CACHE", "/tmp/likeness-watermark-clips"))
FACES = {**PORTRAITS, "astronaut": ROOT / "tests/fixtures/faces/astronaut.jpg"}
FPS = 25


@dataclass(frozen=True)
class ClipSpec:
    """One clip: portrait (+ variation), voice, seed and length."""

    portrait: str
    variant: int  # 0: as is; 1: mirrored; 2: warm + tighter crop; 3: cool + mirrored + crop
    voice: int  # index into UTTERANCES
    seed: int
    seconds: float

    @property
    def name(self) -> str:
        return f"{self.portrait}-v{self.variant}-u{self.voice}-s{self.seed}-{self.seconds:g}s"


def clip_specs(count: int, seconds: float, offset: int = 0) -> list[ClipSpec]:
    """``count`` different clips: portraits x variants cycle fastest, voices and seeds follow."""
    faces = list(FACES)
    specs = []
    for i in range(offset, offset + count):
        face = faces[i % len(faces)]
        variant = (i // len(faces)) % 4
        specs.append(ClipSpec(face, variant, (i * 7 + variant) % len(UTTERANCES), 1000 + i, seconds))
    return specs


def vary_portrait(image: np.ndarray, variant: int) -> np.ndarray:
    out = image
    if variant in (1, 3):
        out = out[:, ::-1]
    if variant in (2, 3):
        h, w = out.shape[:2]
        m = max(2, min(h, w) // 16)
        out = out[m : h - m, m : w - m]
        tint = np.array([1.06, 1.0, 0.92] if variant == 2 else [0.93, 1.0, 1.07], np.float32)
        out = np.clip(out.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)


@lru_cache(maxsize=1)
def pipeline() -> TalkingHeadPipeline:
    return TalkingHeadPipeline.from_pretrained(device="cpu", portrait_limits=EVAL_PORTRAIT_LIMITS)


@lru_cache(maxsize=8)
def _utterance(index: int):
    return speak(UTTERANCES[index])


def render(spec: ClipSpec) -> list[np.ndarray]:
    utt = _utterance(spec.voice)
    samples = utt.samples[: int(spec.seconds * utt.sample_rate)]
    image = vary_portrait(load_image(FACES[spec.portrait]), spec.variant)
    controls = Controls(seed=spec.seed, emotion=EMOTIONS[spec.seed % len(EMOTIONS)])
    return list(pipeline().generate(image, samples, utt.sample_rate, controls))


def load_clip(spec: ClipSpec) -> list[np.ndarray]:
    """The clip's frames (rendered on first use, then read from the lossless cache)."""
    path = CACHE / f"{spec.name}.mkv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        frames = render(spec)
        tmp = path.with_suffix(".tmp.mkv")
        write_lossless(tmp, frames)
        tmp.rename(path)
        return frames
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


def write_lossless(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264rgb", rate=FPS, options={"crf": "0", "preset": "ultrafast"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "rgb24"
        stream.time_base = Fraction(1, FPS)
        for frame in frames:
            box.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        box.mux(stream.encode())

