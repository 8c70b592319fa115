"""The documented entry points on the committed default weights: what a caller sees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.audio.types import FPS
from model.controls import Controls
from model.diffusion.checkpoint import DEFAULT_WEIGHTS_DIR, WEIGHTS_FILE
from model.errors import AudioSilent, ControlError, NoFaceFound
from model.motion.space import Field
from model.pipeline import TalkingHeadPipeline
from service.media.audio import load_audio
from service.media.image import load_image

SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"
SECONDS = 3.0  # of the sample speech: enough for a window join and a pause


@pytest.fixture(scope="module")
def pipeline() -> TalkingHeadPipeline:
    return TalkingHeadPipeline.from_pretrained(device="cpu")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return load_image(SAMPLES / "portrait.png")


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    samples, rate = load_audio(SAMPLES / "speech.wav")
    return samples[: int(SECONDS * rate)], rate


@pytest.fixture(scope="module")
def prepared(pipeline, image):
    return pipeline.prepare(image)


def test_default_weights_are_committed_and_small():
    size = (DEFAULT_WEIGHTS_DIR / WEIGHTS_FILE).stat().st_size
    assert 0 < size <= 20_000_000


def test_generate_yields_one_512_frame_per_40_ms(pipeline, prepared, speech):
    samples, rate = speech
    frames = list(pipeline.generate(prepared, samples, rate, Controls(steps=4)))
    assert len(frames) == int(np.ceil(len(samples) / rate * FPS))
    assert all(f.shape == (512, 512, 3) and f.dtype == np.uint8 for f in frames)
    assert np.abs(frames[10].astype(int) - frames[40].astype(int)).mean() > 0.1  # it moves


def test_streaming_gives_the_same_frames_without_waiting_for_the_end(pipeline, prepared, speech):
    samples, rate = speech
    offline = list(pipeline.generate(prepared, samples, rate, Controls(steps=4)))
    chunk = int(0.04 * rate)
    consumed = []

    def chunks():
        for i in range(0, len(samples), chunk):
            consumed.append(i)
            yield samples[i : i + chunk]

    stream = pipeline.stream(prepared, chunks(), rate, Controls(steps=4))
    first = next(stream)
    # 80 ms of look-ahead: the first frame needs the first three 40 ms chunks, not all of them
    assert len(consumed) <= 4
    streamed = [first, *stream]
    assert len(streamed) == len(offline)
    diffs = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(streamed, offline)]
    # float rounding only: a few grey levels on a few edge pixels of the warp
    assert max(d.max() for d in diffs) <= 8
    assert max(d.mean() for d in diffs) < 0.01


def test_same_seed_same_motion_other_seed_other_motion(pipeline, speech):
    features = pipeline.features(*speech)
    a = pipeline.motion(features, Controls(seed=3)).values
    b = pipeline.motion(features, Controls(seed=3)).values
    c = pipeline.motion(features, Controls(seed=4)).values
    np.testing.assert_array_equal(a, b)
    assert np.abs(a[:, Field.YAW] - c[:, Field.YAW]).mean() > 1e-3


def test_trained_mouth_follows_the_speech(pipeline, speech):
    features = pipeline.features(*speech)
    jaw = pipeline.motion(features).values[:, Field.JAW_OPEN]
    loudness = np.clip(features.energy, -60, 0)
    assert np.corrcoef(jaw, loudness)[0, 1] > 0.5
    silent = ~features.voiced
    assert silent.any() and jaw[silent].mean() < 0.5 * jaw[~silent].mean()


def test_trained_controls_move_their_fields(pipeline, speech):
    features = pipeline.features(*speech)

    def mean(field, **controls):
        return pipeline.motion(features, Controls(**controls)).values[:, field].mean()

    assert mean(Field.LIP_CORNER, emotion="happy") > mean(Field.LIP_CORNER, emotion="sad") + 0.2
    assert mean(Field.BROW_RAISE, emotion="surprised") > mean(Field.BROW_RAISE, emotion="angry") + 0.3
    assert mean(Field.GAZE_X, gaze=(0.6, 0.0)) > mean(Field.GAZE_X, gaze=(-0.6, 0.0)) + 0.4
    assert mean(Field.SCALE, distance=0.2) > mean(Field.SCALE, distance=-0.2) + 0.15


def test_bad_input_is_refused_before_the_first_frame(pipeline, image, speech):
    samples, rate = speech
    with pytest.raises(NoFaceFound):
        pipeline.generate(np.full((400, 400, 3), 128, np.uint8), samples, rate)
    with pytest.raises(AudioSilent):
        pipeline.generate(image, np.zeros(rate * 2, np.float32), rate)
    with pytest.raises(ControlError):
        Controls(steps=0)
