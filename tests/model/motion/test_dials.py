import numpy as np

from model.controls import Controls
from model.motion.dials import apply_dials
from model.motion.space import MOTION_DIM, Field, clip_motion


def _motion(frames: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    return clip_motion(rng.standard_normal((frames, MOTION_DIM)) * 0.1 + 0.05)


def test_default_dials_leave_motion_unchanged():
    motion = _motion()
    np.testing.assert_allclose(apply_dials(motion, Controls()), motion, atol=1e-6)


def test_still_head_keeps_the_mouth_moving():
    motion = _motion()
    out = apply_dials(motion, Controls(head_motion=0.0))
    assert np.all(out[:, [Field.YAW, Field.PITCH, Field.ROLL, Field.TX, Field.TY]] == 0)
    np.testing.assert_allclose(out[:, Field.SCALE], 0.0)
    mouth = [Field.JAW_OPEN, Field.LIP_WIDTH, Field.LIP_ROUND, Field.LIP_PRESS]
    np.testing.assert_allclose(out[:, mouth], motion[:, mouth], atol=1e-6)


def test_expression_dial_scales_gaze_about_the_commanded_direction():
    motion = _motion()
    motion[:, Field.GAZE_X] += 0.5
    out = apply_dials(motion, Controls(gaze=(0.5, 0.0), expression=0.0))
    np.testing.assert_allclose(out[:, Field.GAZE_X], 0.5, atol=1e-6)
    np.testing.assert_allclose(out[:, Field.BROW_RAISE], 0.0)


def test_blinks_off_opens_the_eyes():
    motion = _motion()
    motion[:, Field.BLINK_LEFT] = 1.0
    out = apply_dials(motion, Controls(blinks=False))
    assert np.all(out[:, [Field.BLINK_LEFT, Field.BLINK_RIGHT]] == 0)
