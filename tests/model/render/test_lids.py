from __future__ import annotations

import numpy as np

from model.face.measure import measure_face
from model.render.lids import close_lid
from tests.model.render.conftest import motion, redetect


def _ear(frame: np.ndarray) -> float:
    m = measure_face(redetect(frame))
    return (m.ear_left + m.ear_right) / 2.0


def test_the_lid_is_chosen_by_what_lies_above_the_eye(bound, obama2_bound):
    # The sample has lid skin under its brows: the lid slides down. obama2's low brows leave
    # only shadow and brow above the lashes: the lid is made of the skin under the eye.
    assert [eye.lid.skin_share for eye, _ in bound._eyes._eyes] == [0.0, 0.0]
    assert [eye.lid.skin_share for eye, _ in obama2_bound._eyes._eyes] == [1.0, 1.0]


def test_blink_closes_eyes_under_low_brows(obama2_bound):
    base = _ear(obama2_bound.render(motion()))
    half = _ear(obama2_bound.render(motion(blink_left=0.5, blink_right=0.5)))
    shut = _ear(obama2_bound.render(motion(blink_left=1.0, blink_right=1.0)))
    assert shut < 0.6 * base  # the evaluation's blink threshold
    assert shut < half < base


def test_a_lowered_lid_starts_lower_and_leaves_the_eye_below_it(bound):
    eye = bound._eyes._eyes[0][0]
    y0, y1, x0, x1 = eye.box
    roi = bound._image[y0:y1, x0:x1].astype(np.float32)
    lid = eye.lid
    lowered = close_lid(roi, lid, 0.0, 0.3)
    col = int(np.argmax(lid.lower - lid.upper))  # the widest column
    gap = lid.lower[col] - lid.upper[col]
    covered = int(lid.upper[col] + 0.2 * gap)  # now under the lid
    assert not np.allclose(lowered[covered, col], roi[covered, col])
    below = int(np.ceil(lid.upper[col] + 0.3 * gap)) + 1
    assert np.array_equal(lowered[below:, col], roi[below:, col])
    assert np.array_equal(close_lid(roi, lid, 0.0, 0.0), roi)
