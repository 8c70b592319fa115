import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model.diffusion.scheduler import DiffusionScheduler


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_signal_fraction_decreases_monotonically(schedule: str) -> None:
    a = DiffusionScheduler(1000, schedule).alphas_cumprod.numpy()
    assert a.shape == (1000,)
    assert np.all(np.diff(a) < 0)
    assert 0.99 < a[0] <= 1.0 and 0.0 < a[-1] < 0.01


def test_add_noise_near_t0_is_almost_clean_and_at_the_end_almost_noise() -> None:
    s = DiffusionScheduler()
    x0, noise = torch.randn(4, 10, 16), torch.randn(4, 10, 16)
    clean = s.add_noise(x0, noise, torch.zeros(4, dtype=torch.long))
    assert torch.allclose(clean, x0, atol=0.1)
    noisy = s.add_noise(x0, noise, torch.full((4,), 999))
    assert torch.allclose(noisy, noise, atol=0.1)


def test_set_timesteps_descends_from_the_noisiest_to_zero() -> None:
    ts = DiffusionScheduler().set_timesteps(8).tolist()
    assert ts[0] == 999 and ts[-1] == 0 and ts == sorted(set(ts), reverse=True) and len(ts) == 8
    with pytest.raises(ValueError):
        DiffusionScheduler().set_timesteps(0)


@settings(max_examples=20, deadline=None)
@given(steps=st.integers(1, 50), seed=st.integers(0, 1000))
def test_a_perfect_x0_prediction_lands_on_x0(steps: int, seed: int) -> None:
    s = DiffusionScheduler()
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(2, 5, 16, generator=gen)
    timesteps = s.set_timesteps(steps).tolist()
    x = torch.randn(2, 5, 16, generator=gen)
    for t in timesteps:
        x = s.step(x0, t, s.previous_timestep(t), x)
    assert torch.allclose(x, x0, atol=1e-5)


def test_ddim_step_stays_on_the_noising_path() -> None:
    """With the true x0 and its noise, a step from t lands on add_noise at t_prev."""
    s = DiffusionScheduler()
    x0, noise = torch.randn(1, 8, 16), torch.randn(1, 8, 16)
    x_t = s.add_noise(x0, noise, torch.tensor([700]))
    x_prev = s.step(x0, 700, 300, x_t)
    assert torch.allclose(x_prev, s.add_noise(x0, noise, torch.tensor([300])), atol=1e-4)


def test_unknown_schedule_is_rejected() -> None:
    with pytest.raises(ValueError):
        DiffusionScheduler(schedule="sigmoid")
