import pytest
import torch

from model.diffusion.network import Drop, MotionDiT, stack_audio
from tests.model.diffusion.synthetic import random_network, tiny_config

CFG = tiny_config()
K, R = CFG.context, CFG.audio_context


def _inputs(b: int, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return dict(
        x_t=torch.randn(b, n, 16, generator=g),
        t=torch.full((b,), 500),
        audio=torch.randn(b, K + n + 2 * R, 82, generator=g),
        context_motion=torch.randn(b, K, 16, generator=g) * 0.1,
        context_valid=torch.ones(b, K, dtype=torch.bool),
        gaze=torch.zeros(b, 2),
        distance=torch.zeros(b),
        emotion=torch.zeros(b, dtype=torch.long),
    )


@pytest.fixture(scope="module")
def net() -> MotionDiT:
    return random_network(CFG)


@torch.no_grad()
@pytest.mark.parametrize("n", [1, 5, CFG.window])
def test_predicts_one_x0_frame_per_window_frame(net: MotionDiT, n: int) -> None:
    out = net(**_inputs(3, n))
    assert out.shape == (3, n, 16) and torch.isfinite(out).all()


def test_window_longer_than_configured_is_rejected(net: MotionDiT) -> None:
    with pytest.raises(ValueError):
        net(**_inputs(1, CFG.window + 1))


@torch.no_grad()
def test_frames_depend_on_audio_only_up_to_two_frames_ahead(net: MotionDiT) -> None:
    base = _inputs(1, 12)
    ref = net(**base)
    i = 5  # padded audio row j holds token j - R; window frame i is token K + i
    later = dict(base, audio=base["audio"].clone())
    later["audio"][:, K + i + 2 * R + 1 :] += 3.0  # audio of frames > i + 2
    out = net(**later)
    assert torch.allclose(out[:, : i + 1], ref[:, : i + 1], atol=1e-5)
    assert not torch.allclose(out[:, i + 1 :], ref[:, i + 1 :], atol=1e-3)
    lookahead = dict(base, audio=base["audio"].clone())
    lookahead["audio"][:, K + i + 2 * R] += 3.0  # audio of frame i + 2 is seen by frame i
    assert not torch.allclose(net(**lookahead)[:, i], ref[:, i], atol=1e-4)


@torch.no_grad()
def test_frames_ignore_later_noisy_frames(net: MotionDiT) -> None:
    base = _inputs(1, 12)
    ref = net(**base)
    changed = dict(base, x_t=base["x_t"].clone())
    changed["x_t"][:, 7:] = 5.0
    assert torch.allclose(net(**changed)[:, :7], ref[:, :7], atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("name", ["audio", "gaze", "distance", "emotion", "context"])
def test_each_dropped_condition_changes_the_prediction(net: MotionDiT, name: str) -> None:
    x = _inputs(2, 8)
    x["gaze"] = torch.tensor([[0.5, -0.3]] * 2)
    x["distance"] = torch.tensor([0.2, 0.2])
    x["emotion"] = torch.tensor([1, 1])
    mask = torch.tensor([False, True])
    out = net(**x, drop=Drop(**{name: mask}))
    assert not torch.allclose(out[0], out[1], atol=1e-4)
    assert torch.allclose(out[0], net(**x)[0], atol=1e-5)  # an undropped item is unaffected


@torch.no_grad()
def test_invalid_context_frames_are_ignored(net: MotionDiT) -> None:
    x = _inputs(1, 6)
    x["context_valid"] = torch.zeros(1, K, dtype=torch.bool)
    ref = net(**x)
    x["context_motion"] = x["context_motion"] + 1.0
    assert torch.allclose(net(**x), ref, atol=1e-6)


def test_diffusion_space_round_trip_uses_saved_statistics() -> None:
    net = MotionDiT(CFG)
    net.set_normalization(
        torch.full((16,), 0.5), torch.full((16,), 0.1), torch.zeros(82), torch.ones(82)
    )
    m = torch.randn(4, 16)
    assert torch.allclose(net.from_diffusion_space(net.to_diffusion_space(m)), m, atol=1e-5)
    assert {"motion_mean", "motion_std", "audio_mean", "audio_std"} <= set(net.state_dict())


def test_stack_audio_orders_neighbours_in_time() -> None:
    audio = torch.arange(7, dtype=torch.float32).view(1, 7, 1)
    stacked = stack_audio(audio, 2)
    assert stacked.tolist() == [[[0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [2, 3, 4, 5, 6]]]
