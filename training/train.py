"""Train the MotionDiT motion generator on a motion corpus (``training/corpus_format.py``).

    python -m training.train --corpus .corpus/synthetic --out model/weights/default --minutes 30

Each step samples windows of N frames from train-split clips with their K preceding frames as
context (absent at a clip start), noises them at a uniform random timestep and regresses x0
(weighted MSE in diffusion space + a velocity term for smoothness). Conditions come from the clip
metadata (``gaze``, ``distance``) and the corpus emotion; without metadata the window means of
gaze_x/gaze_y/scale stand in. Each condition is dropped independently (0.1; context 0.5, as in
VASA-1) so classifier-free guidance and the context-free first window work.

Window lengths: the network is causal, so the first n frames of an N-frame window are exactly an
n-frame window; every full-window example also trains every shorter (streaming) prefix, and clips
shorter than N are padded at the end with the padding masked out of the loss.

The checkpoint holds the EMA weights; ``train_log.json`` records step, loss, val loss, lr, seconds.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from model.diffusion.checkpoint import load_motion_model, read_motion_config, save_motion_model
from model.diffusion.network import Drop, MotionDiT, MotionDiTConfig
from model.diffusion.scheduler import DiffusionScheduler
from model.motion.space import MOUTH_FIELDS, Field
from training.corpus_format import Corpus


@dataclass
class TrainConfig:
    """Training hyper-parameters. Stops at ``steps`` or after ``minutes``, whichever is first
    (at least one must be set); the learning-rate schedule follows that same progress."""

    model: MotionDiTConfig = field(default_factory=MotionDiTConfig)
    steps: int | None = None
    minutes: float | None = 30.0
    batch_size: int = 32
    lr: float = 4e-4
    min_lr_ratio: float = 0.05
    warmup_steps: int = 300
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    p_drop_audio: float = 0.1
    p_drop_gaze: float = 0.1
    p_drop_distance: float = 0.1
    p_drop_emotion: float = 0.1
    p_drop_context: float = 0.5
    mouth_weight: float = 2.0  # lip sync is what viewers notice first
    velocity_weight: float = 0.5
    num_train_timesteps: int = 1000
    schedule: str = "cosine"
    eval_every: int = 250
    eval_windows: int = 128
    log_every: int = 50
    seed: int = 0
    threads: int = 2
    # Warm start: begin from this checkpoint's weights (its architecture replaces ``model``), e.g.
    # to adapt the default model to revised procedural targets in a fraction of the steps.
    init_from: Path | None = None


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    steps: int
    seconds: float
    final_loss: float
    final_val_loss: float | None
    log: list[dict[str, float | int | None]]


@dataclass
class Batch:
    """target: (B, N, D) diffusion-space x0; mask: (B, N) real frames; audio: (B, K + N + 2r, A);
    context: (B, K, D) real units; context_valid: (B, K); gaze: (B, 2); distance, emotion: (B,)."""

    target: torch.Tensor
    mask: torch.Tensor
    audio: torch.Tensor
    context: torch.Tensor
    context_valid: torch.Tensor
    gaze: torch.Tensor
    distance: torch.Tensor
    emotion: torch.Tensor


class WindowSampler:
    """Draws training windows from the clips of one split, vectorised over the batch."""

    def __init__(self, corpus: Corpus, clips: list[int], cfg: MotionDiTConfig, net: MotionDiT) -> None:
        if not clips:
            raise ValueError("no clips in this split")
        self.cfg, self.net = cfg, net
        self.motion = torch.from_numpy(np.ascontiguousarray(corpus.motion, np.float32))
        self.audio = torch.from_numpy(np.ascontiguousarray(corpus.audio, np.float32))
        self.begin = torch.tensor([int(corpus.offsets[i]) for i in clips])
        self.end = torch.tensor([int(corpus.offsets[i + 1]) for i in clips])
        lengths = (self.end - self.begin).double()
        self.weights = lengths / lengths.sum()  # pick clips in proportion to their frames
        self.emotion = torch.tensor([int(corpus.emotion[i]) for i in clips])
        nan = float("nan")
        self.gaze = torch.tensor([_pair(corpus.clips[i].get("gaze"), nan) for i in clips])
        self.distance = torch.tensor([float(corpus.clips[i].get("distance", nan)) for i in clips])

    def sample(self, batch: int, gen: torch.Generator) -> Batch:
        cfg = self.cfg
        n, k, r = cfg.window, cfg.context, cfg.audio_context
        clip = torch.multinomial(self.weights, batch, replacement=True, generator=gen)
        b, e = self.begin[clip, None], self.end[clip, None]  # (B, 1)
        span = (e - n - b).clamp_min(0) + 1
        start = b + (torch.rand(batch, 1, generator=gen) * span).long()
        frames = start + torch.arange(n)  # (B, N)
        ctx = start + torch.arange(-k, 0)  # (B, K)
        aud = start + torch.arange(-k - r, n + r)  # (B, K + N + 2r)
        mask = frames < e
        target = self.motion[torch.minimum(frames, e - 1)]
        gaze, distance = self._conditions(clip, target, mask)
        return Batch(
            target=self.net.to_diffusion_space(target),
            mask=mask,
            audio=self.audio[aud.clamp(min=b, max=e - 1)],
            context=self.motion[ctx.clamp_min(b)],
            context_valid=ctx >= b,
            gaze=gaze,
            distance=distance,
            emotion=self.emotion[clip],
        )

    def _conditions(
        self, clip: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip metadata where present, else the window's mean gaze / scale."""
        w = mask.float().unsqueeze(-1)
        mean = (target * w).sum(1) / w.sum(1)  # (B, D) real units
        gaze = self.gaze[clip]
        gaze = torch.where(gaze.isnan(), mean[:, [int(Field.GAZE_X), int(Field.GAZE_Y)]], gaze)
        distance = self.distance[clip]
        distance = torch.where(distance.isnan(), mean[:, int(Field.SCALE)], distance)
        return gaze, distance


def _pair(value: object, default: float) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return default, default


def diffusion_loss(
    net: MotionDiT, scheduler: DiffusionScheduler, batch: Batch, t: torch.Tensor,
    noise: torch.Tensor, drop: Drop, field_weights: torch.Tensor, velocity_weight: float,
) -> torch.Tensor:
    """Weighted x0 MSE + velocity MSE over real (unpadded) frames."""
    x_t = scheduler.add_noise(batch.target, noise, t)
    pred = net(x_t, t, batch.audio, batch.context, batch.context_valid,
               batch.gaze, batch.distance, batch.emotion, drop)
    m = batch.mask.float().unsqueeze(-1)  # (B, N, 1)
    err = ((pred - batch.target) ** 2 * field_weights * m).sum() / (m.sum() * len(field_weights))
    mv = m[:, 1:] * m[:, :-1]
    dv = (pred.diff(dim=1) - batch.target.diff(dim=1)) ** 2 * field_weights
    vel = (dv * mv).sum() / (mv.sum().clamp_min(1.0) * len(field_weights))
    return err + velocity_weight * vel


def corpus_statistics(corpus: Corpus, clips: list[int]) -> tuple[torch.Tensor, ...]:
    """(motion_mean, motion_std, audio_mean, audio_std) over the frames of ``clips``."""
    rows = np.concatenate([np.arange(corpus.offsets[i], corpus.offsets[i + 1]) for i in clips])
    m, a = corpus.motion[rows].astype(np.float64), corpus.audio[rows].astype(np.float64)
    as_t = lambda x: torch.from_numpy(x.astype(np.float32))  # noqa: E731
    return as_t(m.mean(0)), as_t(m.std(0)), as_t(a.mean(0)), as_t(a.std(0))


class _Trainer:
    """Holds the moving parts of one run; ``run`` is the loop."""

    def __init__(self, corpus: Corpus, config: TrainConfig) -> None:
        self.config = config
        torch.manual_seed(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed)
        if config.init_from is not None:
            self.net = load_motion_model(config.init_from).train().requires_grad_(True)
            self.config = config = dataclasses.replace(config, model=self.net.config)
        else:
            self.net = MotionDiT(config.model)
        train_clips = corpus.split_indices("train")
        if not train_clips:
            raise ValueError("the corpus has no train-split clips")
        with torch.no_grad():
            self.net.set_normalization(*corpus_statistics(corpus, train_clips))
        self.ema = copy.deepcopy(self.net).eval().requires_grad_(False)
        self.scheduler = DiffusionScheduler(config.num_train_timesteps, config.schedule)
        self.train_windows = WindowSampler(corpus, train_clips, config.model, self.net)
        eval_clips = corpus.split_indices("eval")
        self.val = self._validation_set(corpus, eval_clips) if eval_clips else None
        decay, no_decay = [], []
        for name, p in self.net.named_parameters():
            (decay if p.ndim >= 2 and "position" not in name else no_decay).append(p)
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.99),
        )
        self.field_weights = torch.ones(config.model.motion_dim)
        self.field_weights[list(MOUTH_FIELDS)] = config.mouth_weight

    def _validation_set(self, corpus: Corpus, clips: list[int]) -> tuple:
        """A fixed batch of eval windows with fixed timesteps and noise, so losses compare."""
        gen = torch.Generator().manual_seed(self.config.seed + 1)
        batch = WindowSampler(corpus, clips, self.config.model, self.net).sample(
            self.config.eval_windows, gen)
        b, n = batch.target.shape[:2]
        t = torch.randint(0, self.config.num_train_timesteps, (b,), generator=gen)
        noise = torch.randn(batch.target.shape, generator=gen)
        return batch, t, noise

    def lr_at(self, step: int, progress: float) -> float:
        c = self.config
        warmup = min(c.warmup_steps, c.steps // 10) if c.steps else c.warmup_steps
        warm = min(1.0, (step + 1) / max(warmup, 1))
        cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        cosine = c.min_lr_ratio + (1 - c.min_lr_ratio) * cosine
        return c.lr * warm * cosine

    def train_step(self, step: int, progress: float) -> tuple[float, float]:
        c = self.config
        batch = self.train_windows.sample(c.batch_size, self.gen)
        b = c.batch_size
        t = torch.randint(0, c.num_train_timesteps, (b,), generator=self.gen)
        noise = torch.randn(batch.target.shape, generator=self.gen)
        p = lambda q: torch.rand(b, generator=self.gen) < q  # noqa: E731
        drop = Drop(p(c.p_drop_audio), p(c.p_drop_gaze), p(c.p_drop_distance),
                    p(c.p_drop_emotion), p(c.p_drop_context))
        lr = self.lr_at(step, progress)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.net.train()
        loss = diffusion_loss(self.net, self.scheduler, batch, t, noise, drop,
                              self.field_weights, c.velocity_weight)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.grad_clip)
        self.opt.step()
        self._update_ema(step)
        return float(loss.detach()), lr

    @torch.no_grad()
    def _update_ema(self, step: int) -> None:
        decay = min(self.config.ema_decay, (1 + step) / (10 + step))  # fast start, then slow
        for ema_p, p in zip(self.ema.parameters(), self.net.parameters()):
            ema_p.lerp_(p, 1.0 - decay)

    @torch.no_grad()
    def val_loss(self) -> float | None:
        if self.val is None:
            return None
        batch, t, noise = self.val
        return float(diffusion_loss(self.ema, self.scheduler, batch, t, noise, Drop(),
                                    self.field_weights, self.config.velocity_weight))


def train(corpus_dir: Path | str, out_dir: Path | str, config: TrainConfig | None = None) -> TrainResult:
    """Train on ``corpus_dir``; write the EMA checkpoint and ``train_log.json`` to ``out_dir``."""
    config = config or TrainConfig()
    if config.steps is None and config.minutes is None:
        raise ValueError("set steps or minutes")
    torch.set_num_threads(config.threads)
    corpus = Corpus.load(Path(corpus_dir))
    trainer = _Trainer(corpus, config)
    print(f"MotionDiT {trainer.net.num_parameters() / 1e6:.2f}M parameters, "
          f"{len(corpus.split_indices('train'))} train clips", flush=True)
    log: list[dict[str, float | int | None]] = []
    start, step, window_losses, loss, lr = time.perf_counter(), 0, [], float("nan"), 0.0
    while True:
        elapsed = time.perf_counter() - start
        progress = max(step / config.steps if config.steps else 0.0,
                       elapsed / (60 * config.minutes) if config.minutes else 0.0)
        if progress >= 1.0:
            break
        loss, lr = trainer.train_step(step, progress)
        window_losses.append(loss)
        step += 1
        is_eval = step % config.eval_every == 0
        if step % config.log_every == 0 or is_eval:
            log.append(_log_entry(step, window_losses, trainer.val_loss() if is_eval else None,
                                  lr, time.perf_counter() - start))
            window_losses = []
    final_val = trainer.val_loss()
    seconds = time.perf_counter() - start
    if window_losses or not log:
        log.append(_log_entry(step, window_losses or [loss], final_val, lr, seconds))
    elif log[-1]["val_loss"] is None:
        log[-1]["val_loss"] = final_val
    out = Path(out_dir)
    config = trainer.config
    metadata = {
        "trained_steps": step, "train_seconds": round(seconds, 1), "final_val_loss": final_val,
        "corpus": str(corpus_dir), "corpus_settings": corpus.settings,
        "train_config": {k: (str(v) if isinstance(v, Path) else v)
                         for k, v in dataclasses.asdict(config).items() if k != "model"},
        "scheduler": {"num_train_timesteps": config.num_train_timesteps, "schedule": config.schedule},
    }
    if config.init_from is not None:
        _, parent = read_motion_config(config.init_from)
        metadata["initialised_from"] = {"path": str(config.init_from), "metadata": parent}
    save_motion_model(out, trainer.ema, metadata)
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    return TrainResult(out, step, seconds, float(log[-1]["loss"]), final_val, log)


def _log_entry(step: int, losses: list[float], val: float | None, lr: float, seconds: float) -> dict:
    entry = {"step": step, "loss": float(np.mean(losses)), "val_loss": val, "lr": lr,
             "seconds": round(seconds, 2)}
    val_text = f" val {val:.4f}" if val is not None else ""
    print(f"step {step:6d}  loss {entry['loss']:.4f}{val_text}  lr {lr:.2e}  {seconds:7.1f}s",
          flush=True)
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the MotionDiT motion generator.")
    parser.add_argument("--corpus", type=Path, required=True, help="corpus directory")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
    parser.add_argument("--steps", type=int, default=None, help="step budget")
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from this checkpoint directory's weights (warm start)")
    parser.add_argument("--threads", type=int, default=TrainConfig.threads,
                        help="torch CPU threads; use 1 when other work shares the cores (two "
                             "spinning threads on a busy 2-core machine run ~10x slower)")
    args = parser.parse_args(argv)
    minutes = args.minutes if args.minutes is not None or args.steps is not None else 30.0
    config = TrainConfig(steps=args.steps, minutes=minutes, batch_size=args.batch_size,
                         lr=args.lr, seed=args.seed, threads=args.threads,
                         init_from=args.init_from)
    result = train(args.corpus, args.out, config)
    print(f"wrote {result.out_dir} after {result.steps} steps ({result.seconds:.0f}s); "
          f"loss {result.final_loss:.4f}, val {result.final_val_loss}", flush=True)


if __name__ == "__main__":
    main()
