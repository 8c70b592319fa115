import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from model.controls import EMOTIONS
from model.motion.space import FIELD_LIMITS, Field
from training.procedural import procedural_motion
from training.procedural.emotion import STYLES
from training.procedural.prosody import speech_activity

pytestmark = pytest.mark.espeak
NEUTRAL, HAPPY, SAD, ANGRY, SURPRISED = range(5)


def _motion(speech, emotion=NEUTRAL, gaze=(0.0, 0.0), distance=0.0, seed=0, phonemes=True):
    return procedural_motion(speech.phonemes if phonemes else None, speech.features, emotion,
                             gaze, distance, np.random.default_rng(seed), f0=speech.f0).values


def _blinks(lid: np.ndarray) -> int:
    return int(np.sum((lid[1:] >= 0.5) & (lid[:-1] < 0.5)))


def _delta_p(values: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of yaw, pitch, roll in degrees."""
    return float(np.degrees(np.abs(np.diff(values[:, :3], axis=0))).mean())


def test_shape_range_and_determinism(speech):
    a, b = _motion(speech, seed=3), _motion(speech, seed=3)
    assert a.shape == (len(speech.features), 16) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _motion(speech, seed=4))
    assert np.all(a >= FIELD_LIMITS[:, 0]) and np.all(a <= FIELD_LIMITS[:, 1])


def test_styles_cover_the_emotions_in_order():
    assert tuple(STYLES) == EMOTIONS


def test_blinks_are_realistic(minute_of_speech):
    values = _motion(minute_of_speech)
    left, right = values[:, Field.BLINK_LEFT], values[:, Field.BLINK_RIGHT]
    minutes = len(values) / 25 / 60
    assert 10 <= _blinks(left) / minutes <= 30
    assert _blinks(left) == _blinks(right) and np.corrcoef(left, right)[0, 1] > 0.9
    closed = left >= 0.5
    assert left.max() == pytest.approx(1.0)
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], closed, [0]]).astype(int))))[::2]
    assert runs.max() <= 6  # each closure is brief (<= 240 ms above half-closed)
    assert np.median(left) < 0.01  # eyes open the rest of the time


def test_head_motion_is_realistic_and_settles_in_pauses(minute_of_speech):
    values = _motion(minute_of_speech)
    dp = _delta_p(values)
    assert 0.05 < dp < 0.6, dp  # degrees per frame: lively, well under 1°
    std = np.degrees(values[:, :3].std(axis=0))
    assert np.all(std > 0.4) and np.all(std < 6.0), std
    f = minute_of_speech.features
    act = speech_activity(f.energy.astype(float), f.voiced)
    deep_pause = ~binary_dilation(act.speaking, np.ones(13, bool))
    step = np.degrees(np.abs(np.diff(values[:, :3], axis=0))).mean(axis=1)
    assert deep_pause[1:].sum() > 100
    assert step[deep_pause[1:]].mean() < 0.5 * step[act.speaking[1:]].mean()


def test_mouth_is_closed_in_silence_and_moves_in_speech(speech):
    values = _motion(speech)
    jaw = values[:, Field.JAW_OPEN]
    silent = ~binary_dilation(speech.features.voiced, np.ones(5, bool))
    assert silent.sum() > 10 and np.mean(jaw[silent] < 0.06) > 0.95
    assert jaw[speech.features.voiced].max() > 0.5
    fallback = _motion(speech, phonemes=False)[:, Field.JAW_OPEN]
    assert np.mean(fallback[silent] < 0.06) > 0.95 and fallback.max() > 0.3


def test_emotion_signatures_differ_from_neutral(minute_of_speech):
    base = _motion(minute_of_speech)
    silent = ~binary_dilation(minute_of_speech.features.voiced, np.ones(5, bool))

    def mean(values: np.ndarray, field: Field, frames: np.ndarray | slice = slice(None)) -> float:
        return float(values[frames, field].mean())

    happy = _motion(minute_of_speech, HAPPY)
    assert mean(happy, Field.LIP_CORNER) > mean(base, Field.LIP_CORNER) + 0.4
    assert mean(happy, Field.BROW_RAISE) > mean(base, Field.BROW_RAISE) + 0.05
    assert _delta_p(happy) > 1.15 * _delta_p(base)
    sad = _motion(minute_of_speech, SAD)
    assert mean(sad, Field.LIP_CORNER) < mean(base, Field.LIP_CORNER) - 0.3
    assert mean(sad, Field.PITCH) > mean(base, Field.PITCH) + np.radians(2)  # chin down
    assert mean(sad, Field.GAZE_Y) > mean(base, Field.GAZE_Y) + 0.1  # eyes lower
    assert _delta_p(sad) < 0.75 * _delta_p(base)
    angry = _motion(minute_of_speech, ANGRY)
    assert mean(angry, Field.BROW_RAISE) < mean(base, Field.BROW_RAISE) - 0.4
    assert mean(angry, Field.LIP_PRESS, silent) > mean(base, Field.LIP_PRESS, silent) + 0.25
    surprised = _motion(minute_of_speech, SURPRISED)
    assert mean(surprised, Field.BROW_RAISE) > mean(base, Field.BROW_RAISE) + 0.6
    assert mean(surprised, Field.JAW_OPEN) > mean(base, Field.JAW_OPEN) + 0.08
    assert mean(surprised, Field.JAW_OPEN, silent) > 0.1  # mouth rests open
    assert _blinks(surprised[:, Field.BLINK_LEFT]) < _blinks(base[:, Field.BLINK_LEFT])


@pytest.mark.parametrize("gaze,distance", [((0.0, 0.0), 0.0), ((0.4, -0.2), 0.25),
                                           ((-0.5, 0.3), -0.3)])
def test_gaze_and_distance_average_to_the_conditions(speech, gaze, distance):
    for emotion in (NEUTRAL, HAPPY, ANGRY):
        values = _motion(speech, emotion, gaze, distance, seed=emotion)
        np.testing.assert_allclose(values[:, [Field.GAZE_X, Field.GAZE_Y]].mean(axis=0), gaze,
                                   atol=0.01)
        assert values[:, Field.SCALE].mean() == pytest.approx(distance, abs=0.005)
        assert values[:, Field.GAZE_X].std() > 0.03  # the eyes do move around the target
    sad = _motion(speech, SAD, gaze, distance)
    assert sad[:, Field.GAZE_Y].mean() == pytest.approx(gaze[1] + STYLES["sad"].gaze_offset[1],
                                                        abs=0.01)
