"""MotionDiT: a small causal diffusion transformer that predicts a window of motion (VASA-1 style).

Read top to bottom: config, leaf modules, the model.

Token sequence for one window (B = batch)::

    [ K context tokens | N window tokens ]
      context: previous window's last K clean motion frames + their audio (or a null token)
      window:  noisy motion x_t + audio

Attention is causal over frames: a token attends to itself and earlier tokens. Each frame's audio
input stacks the audio frames t-2 .. t+2, so frame t depends on audio up to t+2 (80 ms of
look-ahead at 25 fps) and on nothing later. That is what lets the streaming sampler emit a frame as
soon as its look-ahead has arrived, with the same weights and the same result as offline sampling.

Global conditions (diffusion timestep, main gaze (2), head distance (1), emotion) are summed into
one vector that modulates every block (adaLN-Zero, as in DiT). Each droppable condition has a
learned null embedding so classifier-free guidance can switch it off: audio, gaze, distance,
emotion, context.

Units at the API boundary: conditions (audio, context motion, gaze, distance) are given in real
units and normalised inside with the corpus statistics kept in buffers (they save with the
weights). The diffused variable (x_t in, x0 out) lives in *diffusion space*, the per-field
normalised motion; convert with ``to_diffusion_space`` / ``from_diffusion_space``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.audio.types import AUDIO_DIM
from model.motion.space import MOTION_DIM, Field


@dataclass
class MotionDiTConfig:
    motion_dim: int = MOTION_DIM
    audio_dim: int = AUDIO_DIM
    audio_context: int = 1  # audio frames stacked on each side of a frame (look-ahead = this);
    # 1 frame here + 1 frame of voice-activity look-ahead in the features = 80 ms in all
    d_model: int = 192
    n_layers: int = 5
    n_heads: int = 4
    mlp_ratio: int = 3
    window: int = 50  # N: frames generated per window (maximum)
    context: int = 10  # K: previous clean frames given as context
    n_emotions: int = 5
    dropout: float = 0.0

    @property
    def audio_in(self) -> int:
        return self.audio_dim * (2 * self.audio_context + 1)


@dataclass
class Drop:
    """Which conditions to replace by their null embedding, per batch item: (B,) bool each.
    ``None`` keeps the condition for every item."""

    audio: torch.Tensor | None = None
    gaze: torch.Tensor | None = None
    distance: torch.Tensor | None = None
    emotion: torch.Tensor | None = None
    context: torch.Tensor | None = None


def stack_audio(audio: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, L + 2r, A) audio with r frames of margin each side -> (B, L, (2r + 1) A): each frame's
    vector holds frames t - r .. t + r in order."""
    b, lp, a = audio.shape
    win = audio.unfold(1, 2 * radius + 1, 1)  # (B, L, A, 2r + 1)
    return win.transpose(2, 3).reshape(b, lp - 2 * radius, (2 * radius + 1) * a)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) timesteps -> (B, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :].to(t.device)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class KVCache:
    """Keys and values of the tokens already decoded, one (k, v) pair per layer, so a causal
    model can decode later tokens alone (streaming). k, v: (B, H, L_done, C / H)."""

    def __init__(self) -> None:
        self.layers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def length(self) -> int:
        return self.layers[0][0].shape[2] if self.layers else 0


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: MotionDiTConfig, index: int) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.index = index
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        b, l, c = x.shape  # (B, L, C): the L newest tokens
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, l, self.n_heads, c // self.n_heads).transpose(1, 2) for z in (q, k, v))
        done = 0
        if cache is not None:
            if self.index in cache.layers:
                past_k, past_v = cache.layers[self.index]
                done = past_k.shape[2]
                k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
            cache.layers[self.index] = (k, v)
        p = self.dropout if self.training else 0.0
        if done == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:  # new token i sits at position done + i and sees keys 0 .. done + i
            mask = torch.ones(l, done + l, dtype=torch.bool, device=q.device).tril(diagonal=done)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(b, l, c))  # y: (B, H, L, C / H)


class Block(nn.Module):
    """Pre-norm transformer block modulated by the global condition (adaLN-Zero)."""

    def __init__(self, cfg: MotionDiTConfig, index: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.attn = CausalSelfAttention(cfg, index)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(d, cfg.mlp_ratio * d),
            nn.GELU(approximate="tanh"),
            nn.Linear(cfg.mlp_ratio * d, d),
            nn.Dropout(cfg.dropout),
        )
        self.modulation = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.modulation.weight)  # blocks start as identity maps
        nn.init.zeros_(self.modulation.bias)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor, cache: KVCache | None = None
    ) -> torch.Tensor:
        # cond: (B, C) -> six (B, 1, C) shift/scale/gate terms
        m = self.modulation(F.silu(cond)).unsqueeze(1).chunk(6, dim=2)
        x = x + m[2] * self.attn(self.norm1(x) * (1 + m[1]) + m[0], cache)
        return x + m[5] * self.mlp(self.norm2(x) * (1 + m[4]) + m[3])


class MotionDiT(nn.Module):
    """Predicts clean motion x0 for a window of noisy motion frames (see the module docstring)."""

    def __init__(self, cfg: MotionDiTConfig) -> None:
        super().__init__()
        self.config = cfg
        d = cfg.d_model
        # Normalisation statistics (set from the training corpus, saved with the weights).
        self.register_buffer("motion_mean", torch.zeros(cfg.motion_dim))
        self.register_buffer("motion_std", torch.ones(cfg.motion_dim))
        self.register_buffer("audio_mean", torch.zeros(cfg.audio_dim))
        self.register_buffer("audio_std", torch.ones(cfg.audio_dim))
        # Per-frame inputs.
        self.motion_in = nn.Linear(cfg.motion_dim, d)
        self.audio_in = nn.Linear(cfg.audio_in, d)
        self.null_audio = nn.Parameter(torch.zeros(d))
        self.null_context = nn.Parameter(torch.zeros(d))
        self.token_type = nn.Parameter(torch.zeros(2, d))  # 0 = context, 1 = window
        self.position = nn.Parameter(torch.zeros(cfg.context + cfg.window, d))
        # Global conditions.
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.gaze_in = nn.Linear(2, d)
        self.distance_in = nn.Linear(1, d)
        self.emotion_in = nn.Embedding(cfg.n_emotions, d)
        self.null_gaze = nn.Parameter(torch.zeros(d))
        self.null_distance = nn.Parameter(torch.zeros(d))
        self.null_emotion = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False)
        self.out_modulation = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, cfg.motion_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.position, self.token_type, self.null_audio, self.null_context):
            nn.init.normal_(p, std=0.02)
        for p in (self.null_gaze, self.null_distance, self.null_emotion):
            nn.init.normal_(p, std=0.02)
        nn.init.zeros_(self.out_modulation.weight)
        nn.init.zeros_(self.out_modulation.bias)

    # -- normalisation --------------------------------------------------------------------

    def set_normalization(
        self, motion_mean: torch.Tensor, motion_std: torch.Tensor,
        audio_mean: torch.Tensor, audio_std: torch.Tensor,
    ) -> None:
        """Store corpus statistics; stds are floored so near-constant fields don't blow up."""
        self.motion_mean.copy_(motion_mean)
        self.motion_std.copy_(motion_std.clamp_min(0.02))
        self.audio_mean.copy_(audio_mean)
        self.audio_std.copy_(audio_std.clamp_min(0.05))

    def to_diffusion_space(self, motion: torch.Tensor) -> torch.Tensor:
        """(..., motion_dim) real-unit motion -> normalised motion."""
        return (motion - self.motion_mean) / self.motion_std

    def from_diffusion_space(self, x: torch.Tensor) -> torch.Tensor:
        """(..., motion_dim) normalised motion -> real units."""
        return x * self.motion_std + self.motion_mean

    # -- forward ----------------------------------------------------------------------------

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        audio: torch.Tensor,
        context_motion: torch.Tensor,
        context_valid: torch.Tensor,
        gaze: torch.Tensor,
        distance: torch.Tensor,
        emotion: torch.Tensor,
        drop: Drop | None = None,
    ) -> torch.Tensor:
        """Predict x0 for a window of n <= window frames.

        x_t: (B, n, motion_dim) noisy motion, diffusion space.
        t: (B,) integer diffusion timesteps.
        audio: (B, K + n + 2r, audio_dim) real-unit audio vectors for frames
            first_context - r .. last_window + r (r = audio_context), padded by the caller.
        context_motion: (B, K, motion_dim) real-unit clean motion of the K frames before the window.
        context_valid: (B, K) bool, False where that frame does not exist (start of a clip).
        gaze: (B, 2) main gaze (gaze_x, gaze_y); distance: (B,) head distance (scale units);
        emotion: (B,) int64 index into ``EMOTIONS``.
        drop: conditions to null per item (classifier-free guidance / training dropout).
        Returns (B, n, motion_dim) predicted x0 in diffusion space.
        """
        drop = drop or Drop()
        cond = self.condition(t, gaze, distance, emotion, drop)
        h = self.embed(x_t, audio, 0, drop, (context_motion, context_valid))
        return self.decode(h, cond)[:, self.config.context :]

    def condition(
        self, t: torch.Tensor, gaze: torch.Tensor, distance: torch.Tensor,
        emotion: torch.Tensor, drop: Drop,
    ) -> torch.Tensor:
        """(B, C) global condition vector from the timestep and the (maybe dropped) conditions."""
        return self._global_condition(t, gaze, distance, emotion, drop)

    def embed(
        self,
        x_t: torch.Tensor,
        audio: torch.Tensor,
        offset: int,
        drop: Drop,
        context: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Token embeddings for window frames offset .. offset + n - 1, preceded by the K context
        tokens when ``context`` = (context_motion, context_valid) is given (only at offset 0).

        x_t: (B, n, motion_dim); audio: (B, [K +] n + 2r, audio_dim) covering those tokens' frames
        with r frames of margin. Returns (B, [K +] n, C).
        """
        cfg = self.config
        b, n, _ = x_t.shape
        k = cfg.context if context is not None else 0
        first = offset + cfg.context - k  # sequence position of the first token
        if (context is not None and offset) or offset + n > cfg.window:
            raise ValueError(f"window frames {offset}..{offset + n - 1} exceed {cfg.window}")
        if audio.shape[1] != k + n + 2 * cfg.audio_context:
            raise ValueError(f"{n} window frames need {k + n + 2 * cfg.audio_context} audio frames")
        a = stack_audio((audio - self.audio_mean) / self.audio_std, cfg.audio_context)
        a = _where(drop.audio, self.null_audio, self.audio_in(a))  # (B, k + n, C)
        tokens = self.motion_in(x_t) + a[:, k:] + self.token_type[1]
        if context is not None:
            context_motion, context_valid = context
            ctx = self.motion_in(self.to_diffusion_space(context_motion)) + a[:, :k]
            valid = context_valid.unsqueeze(-1)
            if drop.context is not None:
                valid = valid & ~drop.context.view(b, 1, 1)
            ctx = torch.where(valid, ctx, self.null_context) + self.token_type[0]
            tokens = torch.cat([ctx, tokens], dim=1)
        return tokens + self.position[first : first + k + n]

    def decode(self, h: torch.Tensor, cond: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """(B, L, C) tokens (after those in ``cache``, which is extended) -> (B, L, motion_dim)."""
        for block in self.blocks:
            h = block(h, cond, cache)
        shift, scale = self.out_modulation(F.silu(cond)).unsqueeze(1).chunk(2, dim=2)
        return self.out(self.norm_out(h) * (1 + scale) + shift)

    def _global_condition(
        self, t: torch.Tensor, gaze: torch.Tensor, distance: torch.Tensor,
        emotion: torch.Tensor, drop: Drop,
    ) -> torch.Tensor:
        gaze_idx = [int(Field.GAZE_X), int(Field.GAZE_Y)]
        g = (gaze - self.motion_mean[gaze_idx]) / self.motion_std[gaze_idx]
        s = int(Field.SCALE)
        dist = ((distance - self.motion_mean[s]) / self.motion_std[s]).unsqueeze(-1)
        cond = self.time_mlp(timestep_embedding(t, self.config.d_model))
        cond = cond + _where(drop.gaze, self.null_gaze, self.gaze_in(g))
        cond = cond + _where(drop.distance, self.null_distance, self.distance_in(dist))
        return cond + _where(drop.emotion, self.null_emotion, self.emotion_in(emotion))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _where(mask: torch.Tensor | None, null: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Replace ``value`` rows by ``null`` where the (B,) ``mask`` is True."""
    if mask is None:
        return value
    return torch.where(mask.view(-1, *([1] * (value.ndim - 1))), null, value)
