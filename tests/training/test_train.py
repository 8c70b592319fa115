import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model.diffusion.checkpoint import load_motion_model
from model.diffusion.network import MotionDiT
from model.diffusion.sampler import MotionSampler
from model.diffusion.scheduler import DiffusionScheduler
from model.motion.space import Field
from tests.model.diffusion.synthetic import synthetic_clip, synthetic_corpus, tiny_config
from training.corpus_format import Corpus
from training.train import TrainConfig, WindowSampler, corpus_statistics, train


def _config(**overrides: object) -> TrainConfig:
    base = dict(model=tiny_config(), steps=80, minutes=None, batch_size=16, warmup_steps=5,
                lr=2e-3, log_every=20, eval_every=40, eval_windows=16)
    base.update(overrides)
    return TrainConfig(**base)


def test_a_tiny_run_lowers_the_loss_and_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    synthetic_corpus().save(tmp_path / "corpus")
    result = train(tmp_path / "corpus", tmp_path / "out", _config())
    assert result.steps == 80
    losses = [entry["loss"] for entry in result.log]
    assert losses[-1] < 0.7 * losses[0]
    log = json.loads((tmp_path / "out" / "train_log.json").read_text())
    assert [e["step"] for e in log] == [20, 40, 60, 80]
    assert {"step", "loss", "val_loss", "lr", "seconds"} <= set(log[0])
    assert log[-1]["val_loss"] is not None and np.isfinite(log[-1]["val_loss"])
    net = load_motion_model(tmp_path / "out")
    assert net.config == tiny_config()
    corpus = synthetic_corpus()
    train_std = corpus_statistics(corpus, corpus.split_indices("train"))[1]
    assert torch.allclose(net.motion_std[Field.JAW_OPEN], train_std[Field.JAW_OPEN])
    audio = np.asarray(corpus.audio[:30])
    assert MotionSampler(net, DiffusionScheduler()).generate(audio).shape == (30, 16)


def test_normalisation_statistics_come_from_the_train_split() -> None:
    corpus = synthetic_corpus()
    train_clips = corpus.split_indices("train")
    m_mean, m_std, a_mean, a_std = corpus_statistics(corpus, train_clips)
    rows = np.concatenate([np.arange(corpus.offsets[i], corpus.offsets[i + 1]) for i in train_clips])
    np.testing.assert_allclose(m_mean.numpy(), corpus.motion[rows].mean(0), atol=1e-5)
    np.testing.assert_allclose(a_std.numpy(), corpus.audio[rows].std(0), rtol=1e-4)


def test_windows_carry_context_only_inside_their_clip() -> None:
    rng = np.random.default_rng(0)
    clips = [synthetic_clip(rng, n, 0) for n in (8, 40, 70)]
    meta = [{"id": str(i), "split": "train"} for i in range(3)]
    corpus = Corpus.from_clips([m for m, _ in clips], [a for _, a in clips], [0, 0, 0], meta)
    cfg = tiny_config()
    sampler = WindowSampler(corpus, corpus.split_indices("train"), cfg, MotionDiT(cfg))
    batch = sampler.sample(64, torch.Generator().manual_seed(0))
    assert batch.target.shape == (64, cfg.window, 16)
    assert batch.audio.shape == (64, cfg.context + cfg.window + 2 * cfg.audio_context, 82)
    assert batch.context_valid.any() and not batch.context_valid.all()
    assert batch.mask.any(dim=1).all()  # every window has real frames
    assert not batch.mask.all()  # clips shorter than the window are padded and masked


def test_conditions_fall_back_to_window_means_without_metadata() -> None:
    corpus = synthetic_corpus(metadata=False)
    cfg = tiny_config()
    net = MotionDiT(cfg)
    sampler = WindowSampler(corpus, corpus.split_indices("train"), cfg, net)
    batch = sampler.sample(8, torch.Generator().manual_seed(1))
    target = net.from_diffusion_space(batch.target)
    m = batch.mask.float().unsqueeze(-1)
    mean = (target * m).sum(1) / m.sum(1)
    torch.testing.assert_close(batch.distance, mean[:, Field.SCALE], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.gaze[:, 0], mean[:, Field.GAZE_X], atol=1e-5, rtol=0)


def test_a_budget_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        train(tmp_path, tmp_path / "out", _config(steps=None, minutes=None))


def test_a_warm_start_continues_from_the_checkpoint_and_records_it(tmp_path: Path) -> None:
    synthetic_corpus().save(tmp_path / "corpus")
    first = train(tmp_path / "corpus", tmp_path / "first", _config())
    warm = train(tmp_path / "corpus", tmp_path / "warm",
                 _config(steps=20, init_from=tmp_path / "first"))
    cold = train(tmp_path / "corpus", tmp_path / "cold", _config(steps=20))
    # starting from trained weights, 20 steps beat 20 steps from scratch by a wide margin
    assert warm.log[0]["loss"] < 0.7 * cold.log[0]["loss"]
    assert warm.log[0]["loss"] < 1.5 * first.log[-1]["loss"]
    config = json.loads((tmp_path / "warm" / "config.json").read_text())
    parent = config["metadata"]["initialised_from"]
    assert parent["path"] == str(tmp_path / "first") and parent["metadata"]["trained_steps"] == 80
