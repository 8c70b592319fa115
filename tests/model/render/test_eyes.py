from __future__ import annotations

import numpy as np

from model.face.measure import find_pupils, measure_face
from tests.model.render.conftest import motion, redetect


def test_blink_closes_both_eyes(bound, portrait):
    base = measure_face(redetect(portrait.image))
    shut = measure_face(redetect(bound.render(motion(blink_left=1.0, blink_right=1.0))))
    assert shut.ear_left < 0.6 * base.ear_left
    assert shut.ear_right < 0.6 * base.ear_right


def test_one_eye_blink_closes_that_eye_most(bound):
    # dlib keeps a face's two eyes alike, so a wink reads as a partial closure of that eye.
    base = measure_face(redetect(bound.render(motion())))
    wink = measure_face(redetect(bound.render(motion(blink_left=1.0))))
    assert wink.ear_left < 0.85 * base.ear_left
    assert wink.ear_left < wink.ear_right - 0.02


def test_half_blink_is_between(bound, portrait):
    base = measure_face(redetect(portrait.image)).ear_left
    half = measure_face(redetect(bound.render(motion(blink_left=0.5, blink_right=0.5)))).ear_left
    full = measure_face(redetect(bound.render(motion(blink_left=1.0, blink_right=1.0)))).ear_left
    assert full < half < base


def test_gaze_moves_the_pupils_sideways(bound, portrait):
    def pupils_x(gaze_x: float) -> np.ndarray:
        found = find_pupils(bound.render(motion(gaze_x=gaze_x)), portrait.landmarks)
        assert found.left is not None and found.right is not None
        return np.array([found.right.position[0], found.left.position[0]])

    centre = pupils_x(0.0)
    assert np.all(pupils_x(1.0) > centre + 3.0)
    assert np.all(pupils_x(-1.0) < centre - 3.0)


def test_gaze_only_touches_the_eyes(bound, portrait):
    frame = bound.render(motion(gaze_x=1.0, gaze_y=0.5))
    changed = np.argwhere(np.any(frame != bound.render(motion()), axis=2))
    assert len(changed) > 0
    lm = portrait.landmarks[36:48]
    lo, hi = (
        lm.min(axis=0) - 0.3 * portrait.interocular,
        lm.max(axis=0) + 0.3 * portrait.interocular,
    )
    assert np.all((changed[:, ::-1] >= lo) & (changed[:, ::-1] <= hi))


def test_vertical_gaze_moves_the_measured_pupils(bound):
    def offset_y(gaze_y: float) -> float:
        frame = bound.render(motion(gaze_y=gaze_y))
        m = measure_face(redetect(frame), frame)
        assert m.pupils is not None and m.pupils.offset is not None
        return float(m.pupils.offset[1])

    centre = offset_y(0.0)
    assert offset_y(1.0) > centre + 0.1  # + is down
    assert offset_y(-1.0) < centre - 0.1
