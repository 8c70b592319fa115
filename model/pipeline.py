"""The model's documented entry points: portrait + speech + controls -> 512x512 RGB frames.

Two forms, one engine:

``TalkingHeadPipeline.generate(image, samples, rate, controls)``
    Whole audio in hand (a file). Validates everything before the first frame (bad input raises
    a ``ModelError`` at call time, not halfway through), then yields frames lazily: motion is
    generated window by window and each frame is rendered when asked for, so minutes of audio
    never sit in memory as frames.

``TalkingHeadPipeline.stream(image, chunks, rate, controls)``
    Audio arrives in chunks (a microphone, a TTS engine; <= 40 ms each is typical). Frames are
    yielded as soon as the look-ahead allows: audio features need one frame ahead, the motion
    network ``audio_context`` frames ahead (see ``lookahead_seconds``). The first frame never
    waits for the whole audio.

Both yield (512, 512, 3) uint8 RGB frames at 25 fps, one per 40 ms of audio. The stages are
given to the pipeline (analysis limits, motion network + scheduler, renderer), so a learned
renderer or a bigger GPU checkpoint plugs in without touching the loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.audio.features import AudioLimits, extract_features
from model.audio.streaming import StreamingFeatureExtractor
from model.audio.types import FPS, AudioFeatures
from model.controls import Controls
from model.diffusion.checkpoint import DEFAULT_WEIGHTS_DIR, load_motion_model
from model.diffusion.network import MotionDiT
from model.diffusion.sampler import SamplerConditions, StreamingMotionSampler
from model.diffusion.scheduler import DiffusionScheduler
from model.face.portrait import PortraitLimits, analyse_portrait
from model.face.types import Portrait
from model.motion.blinks import BlinkShaper
from model.motion.dials import apply_dials
from model.motion.space import MotionSequence
from model.render.base import BoundRenderer, Renderer
from model.render.warp import WarpRenderer

MOTION_BLOCK_FRAMES = 50  # audio frames handed to the motion sampler at a time (offline form)


def default_device() -> str:
    """CUDA when present, else the CPU (the default model is sized for a 2-core CPU)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class PreparedPortrait:
    """An analysed portrait bound to the renderer (per-portrait work is done once)."""

    portrait: Portrait
    renderer: BoundRenderer


class TalkingHeadPipeline:
    """Portrait analysis -> audio features -> diffusion motion -> eyelids -> dials -> renderer."""

    def __init__(
        self,
        network: MotionDiT,
        renderer: Renderer,
        scheduler: DiffusionScheduler | None = None,
        portrait_limits: PortraitLimits = PortraitLimits(),
        audio_limits: AudioLimits = AudioLimits(),
    ) -> None:
        self.network = network.eval()
        self.renderer = renderer
        self.scheduler = scheduler or DiffusionScheduler()
        self.portrait_limits = portrait_limits
        self.audio_limits = audio_limits

    @classmethod
    def from_pretrained(
        cls,
        weights_dir: Path | str = DEFAULT_WEIGHTS_DIR,
        device: str | None = None,
        renderer: Renderer | None = None,
        portrait_limits: PortraitLimits = PortraitLimits(),
        audio_limits: AudioLimits = AudioLimits(),
    ) -> "TalkingHeadPipeline":
        """The committed default model (or another checkpoint directory); no download."""
        network = load_motion_model(weights_dir, device=device or default_device())
        return cls(network, renderer or WarpRenderer(), None, portrait_limits, audio_limits)

    @property
    def lookahead_seconds(self) -> float:
        """Audio needed past a frame's end before the streaming form can emit that frame."""
        extractor = StreamingFeatureExtractor(16_000, self.audio_limits)
        return extractor.lookahead_seconds + self.network.config.audio_context / FPS

    def prepare(self, image: np.ndarray | PreparedPortrait) -> PreparedPortrait:
        """Analyse a portrait (RGB uint8 array) and bind it to the renderer."""
        if isinstance(image, PreparedPortrait):
            return image
        portrait = analyse_portrait(image, self.portrait_limits)
        return PreparedPortrait(portrait, self.renderer.bind(portrait))

    def features(self, samples: np.ndarray, sample_rate: int) -> AudioFeatures:
        return extract_features(samples, sample_rate, self.audio_limits)

    def motion(self, features: AudioFeatures, controls: Controls = Controls()) -> MotionSequence:
        """The whole motion sequence for ``features`` (dials applied)."""
        sampler = self._motion_sampler(controls)
        values = sampler.push(features.frame_vectors(), final=True)
        return MotionSequence(apply_dials(BlinkShaper().apply(values), controls), fps=FPS)

    def generate(
        self,
        image: np.ndarray | PreparedPortrait,
        samples: np.ndarray,
        sample_rate: int,
        controls: Controls = Controls(),
    ) -> Iterator[np.ndarray]:
        """Frames for the whole audio: validates now, renders lazily (see module doc)."""
        prepared = self.prepare(image)
        features = self.features(samples, sample_rate)
        return self._render_blocks(prepared, features, controls)

    def _render_blocks(
        self, prepared: PreparedPortrait, features: AudioFeatures, controls: Controls
    ) -> Iterator[np.ndarray]:
        sampler, lids = self._motion_sampler(controls), BlinkShaper()
        vectors = features.frame_vectors()
        for start in range(0, len(vectors), MOTION_BLOCK_FRAMES):
            block = vectors[start : start + MOTION_BLOCK_FRAMES]
            final = start + MOTION_BLOCK_FRAMES >= len(vectors)
            motion = lids.apply(sampler.push(block, final=final))
            yield from self._render_motion(prepared, motion, controls)

    def stream(
        self,
        image: np.ndarray | PreparedPortrait,
        chunks: Iterable[np.ndarray],
        sample_rate: int,
        controls: Controls = Controls(),
    ) -> Iterator[np.ndarray]:
        """Frames for audio arriving in chunks, each frame as soon as the look-ahead allows."""
        prepared = self.prepare(image)
        extractor = StreamingFeatureExtractor(sample_rate, self.audio_limits)
        sampler = self._motion_sampler(controls)
        return self._stream_frames(prepared, chunks, extractor, sampler, controls)

    def _stream_frames(
        self,
        prepared: PreparedPortrait,
        chunks: Iterable[np.ndarray],
        extractor: StreamingFeatureExtractor,
        sampler: StreamingMotionSampler,
        controls: Controls,
    ) -> Iterator[np.ndarray]:
        lids = BlinkShaper()
        for chunk in chunks:
            features = extractor.push(chunk)
            if len(features):
                motion = lids.apply(sampler.push(features.frame_vectors()))
                yield from self._render_motion(prepared, motion, controls)
        tail = extractor.finish()
        motion = lids.apply(sampler.push(tail.frame_vectors(), final=True))
        yield from self._render_motion(prepared, motion, controls)

    def _render_motion(
        self, prepared: PreparedPortrait, motion: np.ndarray, controls: Controls
    ) -> Iterator[np.ndarray]:
        for frame_motion in apply_dials(motion, controls):
            yield prepared.renderer.render(frame_motion)

    def _motion_sampler(self, controls: Controls) -> StreamingMotionSampler:
        return StreamingMotionSampler(
            self.network,
            self.scheduler,
            SamplerConditions.from_controls(controls),
            steps=controls.steps,
            audio_guidance=controls.audio_guidance,
            gaze_guidance=controls.gaze_guidance,
            seed=controls.seed,
        )
