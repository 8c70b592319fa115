"""A deterministic DDIM scheduler for x0-predicting diffusion models.

A small pure object with no weights, shaped like a diffusers scheduler: ``add_noise`` for
training, ``set_timesteps`` + ``step`` for sampling. The model predicts the clean sample x0 (as
VASA-1 does), so ``step`` takes an x0 prediction rather than a noise prediction.

Notation: ``alpha_bar[t]`` is the fraction of signal variance left at timestep t,
``x_t = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * noise``; t = 0 is almost clean and
t = num_train_timesteps - 1 is almost pure noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch

SCHEDULES = ("cosine", "linear")


class DiffusionScheduler:
    """Variance schedule + DDIM (eta = 0) update.

    num_train_timesteps: the discrete timesteps the network is trained on.
    schedule: "cosine" (Nichol & Dhariwal) or "linear" (DDPM betas 1e-4..0.02).
    """

    def __init__(self, num_train_timesteps: int = 1000, schedule: str = "cosine") -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if num_train_timesteps < 2:
            raise ValueError("num_train_timesteps must be at least 2")
        self.num_train_timesteps = num_train_timesteps
        self.schedule = schedule
        betas = _betas(num_train_timesteps, schedule)
        # float64 for the cumulative product, then float32 like the network.
        self.alphas_cumprod = torch.from_numpy(np.cumprod(1.0 - betas)).to(torch.float32)
        self.timesteps = torch.arange(num_train_timesteps - 1, -1, -1, dtype=torch.long)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Forward process. x0, noise: (B, ...); t: (B,) integer timesteps -> x_t (B, ...)."""
        a = self._alpha_bar(t, x0)
        return a.sqrt() * x0 + (1.0 - a).sqrt() * noise

    def set_timesteps(self, steps: int) -> torch.Tensor:
        """(steps,) descending integer timesteps from the noisiest one to 0, evenly spaced."""
        if not 1 <= steps <= self.num_train_timesteps:
            raise ValueError(f"steps must be in [1, {self.num_train_timesteps}], got {steps}")
        grid = np.linspace(self.num_train_timesteps - 1, 0, steps)
        self.timesteps = torch.from_numpy(np.round(grid).astype(np.int64))
        return self.timesteps

    def previous_timestep(self, t: int) -> int:
        """The timestep after ``t`` in the current ``set_timesteps`` grid, -1 after the last."""
        ts = self.timesteps.tolist()
        i = ts.index(int(t))
        return ts[i + 1] if i + 1 < len(ts) else -1

    def step(
        self, x0_pred: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor
    ) -> torch.Tensor:
        """One DDIM (eta = 0) update from x_t at ``t`` to x at ``t_prev`` (-1 = clean).

        The implied noise is recovered from x_t and the x0 prediction, then both are re-mixed at
        the lower noise level; at t_prev = -1 the result is the x0 prediction itself.
        """
        if t_prev < 0:
            return x0_pred
        a_t = float(self.alphas_cumprod[int(t)])
        a_prev = float(self.alphas_cumprod[int(t_prev)])
        eps = (x_t - math.sqrt(a_t) * x0_pred) / math.sqrt(max(1.0 - a_t, 1e-12))
        return math.sqrt(a_prev) * x0_pred + math.sqrt(1.0 - a_prev) * eps

    def _alpha_bar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod.to(like.device)[t.long()].to(like.dtype)
        return a.reshape(-1, *([1] * (like.ndim - 1)))


def _betas(n: int, schedule: str) -> np.ndarray:
    if schedule == "linear":
        return np.linspace(1e-4, 0.02, n, dtype=np.float64)
    # Cosine schedule: alpha_bar(s) = cos^2((s + 0.008) / 1.008 * pi / 2); betas clipped so the
    # last step keeps a sliver of signal (avoids a singular final timestep).
    s = np.arange(n + 1, dtype=np.float64) / n
    f = np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
