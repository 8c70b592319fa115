import numpy as np
import pytest

from model.diffusion.network import MotionDiT
from model.diffusion.sampler import MotionSampler, SamplerConditions, StreamingMotionSampler
from model.diffusion.scheduler import DiffusionScheduler
from model.errors import AudioCorrupt, AudioEmpty, ControlError
from model.motion.space import FIELD_LIMITS
from tests.model.diffusion.synthetic import (
    random_network,
    synthetic_clip,
    synthetic_corpus,
    tiny_config,
)
from training.train import TrainConfig, _Trainer

OVERLAP = 4


@pytest.fixture(scope="module")
def net() -> MotionDiT:
    return random_network(tiny_config())


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return synthetic_clip(np.random.default_rng(3), 61, 0)[1]


@pytest.fixture(scope="module")
def trained() -> MotionDiT:
    """A tiny model trained briefly on smooth synthetic motion (~2-4 s)."""
    config = TrainConfig(model=tiny_config(), steps=300, minutes=None, batch_size=16,
                         warmup_steps=10, lr=2e-3)
    trainer = _Trainer(synthetic_corpus(clips=24), config)
    for step in range(config.steps):
        trainer.train_step(step, step / config.steps)
    return trainer.ema


def _sampler(net: MotionDiT, overlap: int = OVERLAP) -> MotionSampler:
    return MotionSampler(net, DiffusionScheduler(), overlap=overlap)


def test_generates_one_valid_motion_frame_per_audio_frame(net: MotionDiT, audio: np.ndarray) -> None:
    motion = _sampler(net).generate(audio, SamplerConditions(gaze=(0.2, 0.0), emotion="happy"))
    assert motion.shape == (61, 16) and motion.dtype == np.float32
    assert np.all(motion >= FIELD_LIMITS[:, 0]) and np.all(motion <= FIELD_LIMITS[:, 1])


def test_same_seed_same_motion_other_seed_other_motion(net: MotionDiT, audio: np.ndarray) -> None:
    s = _sampler(net)
    a, b, c = s.generate(audio, seed=5), s.generate(audio, seed=5), s.generate(audio, seed=6)
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-2


def test_guidance_and_conditions_change_the_motion(net: MotionDiT, audio: np.ndarray) -> None:
    s = _sampler(net)
    base = s.generate(audio, SamplerConditions(emotion="neutral"))
    assert np.abs(base - s.generate(audio, SamplerConditions(emotion="angry"))).max() > 1e-3
    looking = s.generate(audio, SamplerConditions(gaze=(0.5, 0.5), emotion="neutral"))
    assert np.abs(base - looking).max() > 1e-3
    no_cfg = s.generate(
        audio, SamplerConditions(emotion="neutral"), audio_guidance=0.0, gaze_guidance=0.0
    )
    assert np.abs(base - no_cfg).max() > 1e-3


def test_bad_inputs_raise_model_errors(net: MotionDiT) -> None:
    s = _sampler(net)
    with pytest.raises(AudioEmpty):
        s.generate(np.zeros((0, 82), np.float32))
    with pytest.raises(AudioCorrupt):
        s.generate(np.zeros((10, 81), np.float32))
    with pytest.raises(AudioCorrupt):
        s.generate(np.full((10, 82), np.nan, np.float32))
    with pytest.raises(ControlError):
        SamplerConditions(emotion="bored")


def test_streaming_emits_early_and_matches_offline(net: MotionDiT, audio: np.ndarray) -> None:
    offline = _sampler(net).generate(audio, seed=2)
    stream = StreamingMotionSampler(net, DiffusionScheduler(), seed=2, overlap=OVERLAP)
    chunks, received = [], 0
    for start in range(0, len(audio), 3):
        part = audio[start : start + 3]
        received += len(part)
        out = stream.push(part, final=received == len(audio))
        if received < len(audio):  # a frame leaves once its look-ahead frames are in
            assert stream.frames_emitted == received - stream.lookahead_frames
        chunks.append(out)
    # the first frames leave as soon as the look-ahead allows, not at the end of the audio
    assert len(chunks[0]) == 3 - stream.lookahead_frames
    streamed = np.concatenate(chunks)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, atol=1e-4)  # float rounding only
    with pytest.raises(RuntimeError):
        stream.push(audio[:1])


def test_streaming_with_uneven_chunks_matches_offline(net: MotionDiT, audio: np.ndarray) -> None:
    offline = _sampler(net).generate(audio, seed=1)
    stream = StreamingMotionSampler(net, DiffusionScheduler(), seed=1, overlap=OVERLAP)
    cuts = [0, 1, 2, 9, 30, 31, 55, 61]
    parts = [stream.push(audio[a:b], final=b == 61) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_allclose(np.concatenate(parts), offline, atol=1e-4)


def _join_ratio(motion: np.ndarray, stride: int, overlap: int) -> float:
    """Mean frame-to-frame acceleration around window joins over its mean elsewhere."""
    acc = np.linalg.norm(np.diff(motion, 2, axis=0), axis=1)  # acc[i] is centred on frame i + 1
    near = np.zeros(len(acc), bool)
    for join in range(stride, len(motion), stride):
        near[max(join - 2, 0) : join + overlap + 1] = True
    return float(acc[near].mean() / acc[~near].mean())


@pytest.mark.slow
def test_window_joins_have_no_seam_over_hundreds_of_frames(trained: MotionDiT) -> None:
    audio = synthetic_clip(np.random.default_rng(7), 400, 0)[1]
    window = trained.config.window
    faded = _sampler(trained, OVERLAP).generate(audio, seed=1)
    hard = _sampler(trained, 0).generate(audio, seed=1)
    assert _join_ratio(faded, window - OVERLAP, OVERLAP) < 1.3
    assert _join_ratio(hard, window, 0) > _join_ratio(faded, window - OVERLAP, OVERLAP)


def test_a_long_stream_keeps_bounded_memory_and_matches_offline(net: MotionDiT) -> None:
    audio = synthetic_clip(np.random.default_rng(5), 400, 0)[1]
    offline = _sampler(net).generate(audio, seed=1)
    stream = StreamingMotionSampler(net, DiffusionScheduler(), seed=1, overlap=OVERLAP)
    out = [stream.push(audio[i : i + 4], final=i + 4 >= len(audio)) for i in range(0, len(audio), 4)]
    np.testing.assert_allclose(np.concatenate(out), offline, atol=1e-4)
    held = stream._engine.audio  # what the engine still holds of the past
    assert held.base > 0 and len(held.data) < 300
