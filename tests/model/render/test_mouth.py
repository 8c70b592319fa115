from __future__ import annotations

import numpy as np

from model.face.measure import measure_face
from model.face.portrait import analyse_portrait
from model.render.mouth import inner_gap
from model.render.warp import WarpRenderer
from tests.model.render.conftest import motion, redetect


def _aperture(frame: np.ndarray) -> float:
    return measure_face(redetect(frame)).aperture


def test_jaw_open_opens_the_mouth(bound):
    still = _aperture(bound.render(motion()))
    half = _aperture(bound.render(motion(jaw_open=0.5)))
    wide = _aperture(bound.render(motion(jaw_open=1.0)))
    assert half > still + 0.15
    assert wide > half + 0.15


def test_open_mouth_interior_is_dark_inside_and_stable(bound):
    m = motion(jaw_open=1.0)
    frame = bound.render(m)
    lm = bound.target_landmarks(m)
    centre = (lm[62] + 2 * lm[66]) / 3.0  # lower middle of the opening: cavity or tongue
    x, y = np.round(centre).astype(int)
    patch = frame[y - 3 : y + 4, x - 3 : x + 4].astype(float)
    assert patch.mean() < 150.0
    assert np.array_equal(bound.render(m), frame)


def test_lip_press_closes_a_smiling_mouth(bound, portrait):
    assert inner_gap(portrait.landmarks) > 0.08 * portrait.interocular  # the sample shows teeth
    assert _aperture(bound.render(motion(lip_press=1.0))) < 0.05


def test_lip_press_closes_a_mouth_the_renderer_opened(bound):
    """Bind a frame with an open mouth as a new portrait: pressing brings the lips together."""
    opened = analyse_portrait(bound.render(motion(jaw_open=0.5)))
    wide = measure_face(opened.landmarks).aperture
    assert wide > 0.2
    again = WarpRenderer().bind(opened)
    # By eye the lips meet; dlib reads the re-bound frame's thick closed lips as a small gap.
    assert _aperture(again.render(motion(lip_press=1.0))) < 0.55 * wide
