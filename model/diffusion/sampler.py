"""Sampling motion from audio with MotionDiT: offline (whole audio) and streaming (chunks).

Both forms share one engine, so they produce the same frames (up to float rounding):

- Windows of N frames start every N - O frames (O = cross-fade overlap). Window w is
  conditioned on the K final frames before its start (none for the first window) and its
  initial noise comes from a generator seeded by (seed, w).
- In the O overlapping frames the output fades linearly from window w to window w + 1, so joins
  have neither a step nor a kink. Window w + 1 exists as soon as audio reaches its first frame.
- The network is causal with ``audio_context`` (r) frames of audio look-ahead, so frame j of a
  window depends only on noise, audio and context up to frame j + r, and its whole denoising
  trajectory is fixed once those are known. A window is therefore denoised in pieces as audio
  arrives: each sampling step keeps a key/value cache of the frames already done, so a push costs
  only its new frames. Offline sampling is the same thing with one piece per window.
- Audio beyond the ends is padded by repeating the first/last frame, as in training.

CFG as VASA-1: x0 = (1 + la + lg) H(all) - la H(no audio) - lg H(no gaze), one batched forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.audio.types import AUDIO_DIM
from model.controls import EMOTIONS, Controls
from model.diffusion.network import Drop, KVCache, MotionDiT
from model.diffusion.scheduler import DiffusionScheduler
from model.errors import AudioCorrupt, AudioEmpty, ControlError
from model.motion.space import MOTION_DIM, clip_motion


@dataclass(frozen=True)
class SamplerConditions:
    """Global conditions of one generation.

    gaze: main gaze direction (gaze_x, gaze_y) in motion units; (0, 0) looks at the camera.
    distance: head distance (scale units, + closer); None = unconditioned (the corpus average).
    emotion: one of ``EMOTIONS``; None = unconditioned.
    """

    gaze: tuple[float, float] = (0.0, 0.0)
    distance: float | None = None
    emotion: str | None = None

    def __post_init__(self) -> None:
        if self.emotion is not None and self.emotion not in EMOTIONS:
            raise ControlError(f"unknown emotion {self.emotion!r}", field="emotion", value=self.emotion)

    @classmethod
    def from_controls(cls, controls: Controls) -> "SamplerConditions":
        return cls(gaze=controls.gaze, distance=controls.distance, emotion=controls.emotion)


@dataclass(frozen=True)
class SamplingOptions:
    steps: int = 8
    audio_guidance: float = 0.5
    gaze_guidance: float = 1.0
    seed: int = 0


class MotionSampler:
    """Offline sampler: the whole audio in, the whole motion out."""

    def __init__(
        self, network: MotionDiT, scheduler: DiffusionScheduler, overlap: int | None = None
    ) -> None:
        """overlap: cross-faded frames between windows; default window // 5 (10 for 50)."""
        self.network = network.eval()
        self.scheduler = scheduler
        self.overlap = _check_overlap(overlap, network.config.window)

    def generate(
        self,
        audio: np.ndarray,
        conditions: SamplerConditions | None = None,
        steps: int = 8,
        audio_guidance: float = 0.5,
        gaze_guidance: float = 1.0,
        seed: int = 0,
    ) -> np.ndarray:
        """(T, AUDIO_DIM) audio frame vectors -> (T, MOTION_DIM) float32 motion in real units,
        clipped to the field limits."""
        audio = _check_audio(audio)
        if len(audio) == 0:
            raise AudioEmpty("no audio frames to animate", frames=0)
        options = SamplingOptions(steps, audio_guidance, gaze_guidance, seed)
        conditions = conditions or SamplerConditions()
        engine = _Engine(self.network, self.scheduler, self.overlap, conditions, options)
        return engine.push(audio, final=True)


class StreamingMotionSampler:
    """Streaming sampler: push audio frames as they arrive, get motion frames as soon as the
    look-ahead (``lookahead_frames``) allows. Output equals ``MotionSampler.generate`` on the
    concatenated audio up to float rounding."""

    def __init__(
        self,
        network: MotionDiT,
        scheduler: DiffusionScheduler,
        conditions: SamplerConditions | None = None,
        steps: int = 8,
        audio_guidance: float = 0.5,
        gaze_guidance: float = 1.0,
        seed: int = 0,
        overlap: int | None = None,
    ) -> None:
        options = SamplingOptions(steps, audio_guidance, gaze_guidance, seed)
        overlap = _check_overlap(overlap, network.config.window)
        conditions = conditions or SamplerConditions()
        self._engine = _Engine(network.eval(), scheduler, overlap, conditions, options)

    @property
    def lookahead_frames(self) -> int:
        return self._engine.radius

    @property
    def frames_emitted(self) -> int:
        return self._engine.emitted

    def push(self, audio_frames: np.ndarray, final: bool = False) -> np.ndarray:
        """(n, AUDIO_DIM) new audio frames -> (m, MOTION_DIM) newly finished motion frames.
        ``final=True`` marks the end of the audio and flushes the remaining frames."""
        return self._engine.push(_check_audio(audio_frames), final=final)


@dataclass
class _Window:
    """One sliding window: start frame, initial noise (1, N, D), one key/value cache per
    sampling step, and its raw (un-faded) output so far (done, D) in real units."""

    start: int
    noise: torch.Tensor
    caches: list[KVCache]
    raw: np.ndarray


class _Rows:
    """A growing (frames, width) array addressed by absolute frame index. Rows before ``base``
    are dropped once no window can look at them, so a stream may run for hours in bounded
    memory and appending stays cheap."""

    def __init__(self, width: int) -> None:
        self.base = 0
        self.data = np.zeros((0, width), np.float32)

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def extend(self, rows: np.ndarray) -> None:
        if len(rows):
            self.data = np.concatenate([self.data, rows])

    def grow_to(self, end: int) -> None:
        if end > self.end:
            self.extend(np.zeros((end - self.end, self.data.shape[1]), np.float32))

    def take(self, index: np.ndarray) -> np.ndarray:
        return self.data[index - self.base]

    def rows(self, lo: int, hi: int) -> np.ndarray:
        return self.data[lo - self.base : hi - self.base]

    def put(self, lo: int, rows: np.ndarray) -> None:
        self.data[lo - self.base : lo - self.base + len(rows)] = rows

    def drop_before(self, index: int, slack: int) -> None:
        """Forget rows before ``index`` once more than ``slack`` of them have piled up."""
        if index - self.base > slack:
            self.data = self.data[index - self.base :].copy()
            self.base = index


class _Engine:
    """Window bookkeeping and denoising shared by the offline and streaming samplers."""

    def __init__(
        self, network: MotionDiT, scheduler: DiffusionScheduler, overlap: int,
        conditions: SamplerConditions, options: SamplingOptions,
    ) -> None:
        cfg = network.config
        self.net, self.scheduler, self.options = network, scheduler, options
        self.device = next(network.parameters()).device  # CPU by default, CUDA when given
        self.window, self.context, self.radius = cfg.window, cfg.context, cfg.audio_context
        self.overlap = overlap
        self.stride = cfg.window - overlap
        self.timesteps = scheduler.set_timesteps(options.steps).tolist()
        self.audio = _Rows(AUDIO_DIM)
        self.motion = _Rows(MOTION_DIM)  # final frames written so far
        self.emitted = 0
        self.final = False
        self.windows: dict[int, _Window] = {}  # open windows by index
        self._build_conditions(conditions)

    def _build_conditions(self, c: SamplerConditions) -> None:
        """Stack the CFG branches once: [all, no audio?, no gaze?] (zero-scale ones skipped)."""
        o = self.options
        branches = [("all", 1.0 + o.audio_guidance + o.gaze_guidance)]
        if o.audio_guidance != 0.0:
            branches.append(("audio", -o.audio_guidance))
        if o.gaze_guidance != 0.0:
            branches.append(("gaze", -o.gaze_guidance))
        b = len(branches)
        names = [name for name, _ in branches]
        dev = self.device
        self.weights = torch.tensor([w for _, w in branches], device=dev).view(b, 1, 1)
        self.gaze = torch.tensor([c.gaze], dtype=torch.float32, device=dev).expand(b, 2)
        distance = 0.0 if c.distance is None else float(c.distance)
        self.distance = torch.full((b,), distance, device=dev)
        emotion = 0 if c.emotion is None else EMOTIONS.index(c.emotion)
        self.emotion = torch.full((b,), emotion, device=dev)
        self.drop = Drop(
            audio=torch.tensor([n == "audio" for n in names], device=dev),
            gaze=torch.tensor([n == "gaze" for n in names], device=dev),
            distance=torch.full((b,), c.distance is None, device=dev),
            emotion=torch.full((b,), c.emotion is None, device=dev),
        )
        with torch.inference_mode():  # the global condition of each sampling step, computed once
            self.conds = [
                self.net.condition(
                    torch.full((b,), t, device=dev), self.gaze, self.distance, self.emotion,
                    self.drop,
                )
                for t in self.timesteps
            ]

    def push(self, audio: np.ndarray, final: bool) -> np.ndarray:
        if self.final:
            raise RuntimeError("the stream is already finished")
        self.audio.extend(audio)
        self.final = final
        total = self.audio.end
        ready = total if final else max(total - self.radius, 0)
        if ready > self.emitted:
            self._advance(ready)
        out = self.motion.rows(self.emitted, ready).copy()
        self.emitted = ready
        self._forget_the_past()
        return out

    def _forget_the_past(self) -> None:
        """Drop audio and motion no open or future window will read (its context and its
        audio margin reach back ``context + radius`` frames before its start)."""
        first = min(self.windows, default=max(self.emitted - self.overlap, 0) // self.stride)
        needed = first * self.stride - self.context - self.radius
        slack = 4 * self.window
        self.audio.drop_before(max(needed, 0), slack)
        self.motion.drop_before(max(min(needed, self.emitted), 0), slack)

    def _advance(self, ready: int) -> None:
        """Make frames [0, ready) final, denoising the new frames of every window they touch."""
        self.motion.grow_to(ready)
        w = max(self.emitted - self.overlap, 0) // self.stride
        while w * self.stride < ready:
            start = w * self.stride
            n = min(ready, start + self.window) - start
            win = self.windows.get(w) or self.windows.setdefault(w, self._open(w))
            done = len(win.raw)
            if n > done:
                win.raw = np.concatenate([win.raw, self._denoise(win, done, n)])
                self._write(w, done, n)
            w += 1
        # The next push starts at the window holding frame `ready` and blends with the one before.
        keep_from = max(ready - self.overlap, 0) // self.stride - 1
        for old in [k for k in self.windows if k < keep_from]:
            del self.windows[old]

    def _open(self, w: int) -> _Window:
        state = np.random.SeedSequence([self.options.seed, w]).generate_state(2, np.uint32)
        gen = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
        # f(seed, w) only, drawn on the CPU so a CUDA worker samples the same motion
        noise = torch.randn((1, self.window, MOTION_DIM), generator=gen).to(self.device)
        caches = [KVCache() for _ in self.timesteps]
        return _Window(w * self.stride, noise, caches, np.zeros((0, MOTION_DIM), np.float32))

    def _write(self, w: int, lo: int, hi: int) -> None:
        """Write window w's frames lo .. hi - 1, cross-faded with window w - 1 in the overlap."""
        win = self.windows[w]
        frames = win.raw[lo:hi].copy()
        if w > 0 and lo < self.overlap:
            j = np.arange(lo, min(hi, self.overlap))
            alpha = ((j + 1) / (self.overlap + 1)).astype(np.float32)[:, None]
            prev = self.windows[w - 1]
            faded = prev.raw[win.start - prev.start + j]
            frames[: len(j)] = (1 - alpha) * faded + alpha * frames[: len(j)]
        self.motion.put(win.start + lo, clip_motion(frames))

    @torch.inference_mode()
    def _denoise(self, win: _Window, lo: int, hi: int) -> np.ndarray:
        """Run the sampling loop for frames lo .. hi - 1 of a window whose earlier frames sit in
        its per-step key/value caches -> (hi - lo, MOTION_DIM) real units."""
        net, r, b, m = self.net, self.radius, self.weights.shape[0], hi - lo
        context = None
        k = self.context if lo == 0 else 0  # context tokens go in with the first frames
        if k:
            ctx_idx = np.arange(win.start - k, win.start)
            valid = torch.from_numpy(ctx_idx >= 0).to(self.device).unsqueeze(0).expand(b, -1)
            ctx = torch.from_numpy(self.motion.take(np.clip(ctx_idx, 0, None))).to(self.device)
            context = (ctx.unsqueeze(0).expand(b, -1, -1), valid)
        idx = np.clip(np.arange(win.start + lo - k - r, win.start + hi + r), 0, self.audio.end - 1)
        audio = torch.from_numpy(self.audio.take(idx)).to(self.device).unsqueeze(0).expand(b, -1, -1)
        x = win.noise[:, lo:hi]  # (1, m, D)
        for i, t in enumerate(self.timesteps):
            t_prev = self.timesteps[i + 1] if i + 1 < len(self.timesteps) else -1
            h = net.embed(x.expand(b, -1, -1), audio, lo, self.drop, context)
            pred = net.decode(h, self.conds[i], win.caches[i])[:, -m:]  # (b, m, D)
            x0 = (self.weights * pred).sum(dim=0, keepdim=True)
            x = self.scheduler.step(x0, t, t_prev, x)
        return net.from_diffusion_space(x[0]).cpu().numpy()


def _check_overlap(overlap: int | None, window: int) -> int:
    if overlap is None:
        return window // 5
    if not 0 <= overlap <= window // 2:  # a frame is never covered by more than two windows
        raise ValueError(f"overlap must be in [0, {window // 2}], got {overlap}")
    return overlap


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[1] != AUDIO_DIM:
        raise AudioCorrupt(f"audio frames must be (n, {AUDIO_DIM})", shape=tuple(audio.shape))
    if not np.isfinite(audio).all():
        raise AudioCorrupt("audio frames contain NaN or inf", shape=tuple(audio.shape))
    return audio.astype(np.float32, copy=False)
