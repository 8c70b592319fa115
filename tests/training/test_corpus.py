import json

import numpy as np
import pytest

from model.audio.types import AUDIO_DIM
from model.controls import EMOTIONS
from model.motion.space import MOTION_DIM, Field
from training.corpus import Augmentation, CorpusSpec, augment, build_synthetic_corpus, main
from training.corpus_format import Corpus

pytestmark = pytest.mark.espeak

TINY = CorpusSpec(clips=4, seed=3, languages=(("en-us", 1.0), ("nl", 1.0), ("de", 1.0)),
                  variants=("m3", "f4", "f2"), min_seconds=3.0, max_seconds=5.0, workers=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Corpus, Corpus]:
    out = tmp_path_factory.mktemp("corpus")
    built = build_synthetic_corpus(TINY, out)
    return built, Corpus.load(out)


def test_tiny_corpus_round_trips_with_the_eval_split(tiny):
    built, loaded = tiny
    assert len(loaded) == 4
    np.testing.assert_array_equal(built.motion, loaded.motion)
    np.testing.assert_array_equal(built.audio, loaded.audio)
    assert loaded.clips == built.clips and loaded.settings["spec"]["seed"] == 3
    assert loaded.motion.shape[1] == MOTION_DIM and loaded.audio.shape[1] == AUDIO_DIM
    splits = set()
    for i, clip in enumerate(loaded.clips):
        held_out = clip["variant"] in ("f4", "m6") or clip["language"] == "nl"
        assert clip["split"] == ("eval" if held_out else "train")
        splits.add(clip["split"])
        assert clip["voice"] == f"{clip['language']}+{clip['variant']}"
        assert EMOTIONS[loaded.emotion[i]] == clip["emotion"]
        frames = loaded.clip_slice(i)
        assert clip["frames"] == frames.stop - frames.start
        assert 3.0 <= clip["seconds"] <= 5.0
        motion = loaded.motion[frames]
        np.testing.assert_allclose(motion[:, [Field.GAZE_X, Field.GAZE_Y]].mean(axis=0),
                                   np.array(clip["gaze"]) + (0, 0.15 * (clip["emotion"] == "sad")
                                                             * clip["emotion_intensity"]),
                                   atol=0.01)
        assert motion[:, Field.SCALE].mean() == pytest.approx(clip["distance"], abs=0.005)
    assert splits == {"train", "eval"}
    assert loaded.split_indices("train") and loaded.split_indices("eval")


def test_same_seed_same_corpus(tiny):
    built, _ = tiny
    again = build_synthetic_corpus(CorpusSpec(**{**TINY.__dict__, "clips": 2}), None)
    np.testing.assert_array_equal(again.motion, built.motion[: again.offsets[-1]])
    np.testing.assert_array_equal(again.audio, built.audio[: again.offsets[-1]])
    assert again.clips == built.clips[:2]
    other = build_synthetic_corpus(CorpusSpec(**{**TINY.__dict__, "clips": 2, "seed": 4}), None)
    assert other.clips[0]["text"] != built.clips[0]["text"] or other.motion.shape != again.motion.shape


def test_worker_pool_builds_the_same_clips():
    spec = CorpusSpec(clips=8, seed=1, max_seconds=4.0, workers=2)
    pooled = build_synthetic_corpus(spec, None)
    single = build_synthetic_corpus(CorpusSpec(**{**spec.__dict__, "workers": 1}), None)
    np.testing.assert_array_equal(pooled.motion, single.motion)
    assert pooled.clips == single.clips


def test_augmentation_degrades_but_keeps_length_and_range():
    rng = np.random.default_rng(0)
    t = np.arange(22050) / 22050
    x = (0.5 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    always = Augmentation(reverb_probability=1, lowpass_probability=1, noise_probability=1,
                          snr_db=(10, 10), gain_db=(-6, -6))
    y, applied = augment(x, 22050, always, rng)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert np.abs(y).max() <= 0.99
    assert set(applied) == {"reverb", "lowpass_hz", "noise", "gain_db"}
    assert 0.1 < np.corrcoef(x, y)[0, 1] < 0.99


def test_cli_writes_a_corpus(tmp_path, capsys):
    main(["--out", str(tmp_path / "c"), "--clips", "2", "--seed", "5", "--workers", "1"])
    meta = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert len(meta["clips"]) == 2 and meta["settings"]["builder"] == "training.corpus"
    assert "wrote 2 clips" in capsys.readouterr().out
