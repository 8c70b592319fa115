"""Amplitude dials applied after generation (the motion space is interpretable, so the caller can
turn head motion or expressions down without re-sampling — a lesson from Ditto's users)."""

from __future__ import annotations

import numpy as np

from model.controls import Controls
from model.motion.space import Field, clip_motion

_HEAD = [Field.YAW, Field.PITCH, Field.ROLL, Field.TX, Field.TY]
_EXPRESSION = [Field.LIP_CORNER, Field.BROW_RAISE]
_GAZE = [Field.GAZE_X, Field.GAZE_Y]
_BLINKS = [Field.BLINK_LEFT, Field.BLINK_RIGHT]


def apply_dials(motion: np.ndarray, controls: Controls) -> np.ndarray:
    """Scale generated motion (T, MOTION_DIM) by the controls' amplitude dials.

    head_motion scales head rotation and translation about zero, and head distance about the
    commanded distance; expression scales lip corners and brows about zero and gaze about the
    commanded main gaze direction; blinks=False opens the eyes. Mouth fields are never touched:
    lip sync stays intact whatever the dials say.
    """
    out = motion.astype(np.float32, copy=True)
    out[:, _HEAD] *= controls.head_motion
    out[:, Field.SCALE] = controls.distance + (out[:, Field.SCALE] - controls.distance) * controls.head_motion
    out[:, _EXPRESSION] *= controls.expression
    gaze_centre = np.asarray(controls.gaze, dtype=np.float32)
    out[:, _GAZE] = gaze_centre + (out[:, _GAZE] - gaze_centre) * controls.expression
    if not controls.blinks:
        out[:, _BLINKS] = 0.0
    return clip_motion(out)
