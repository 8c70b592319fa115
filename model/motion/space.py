"""The interpretable motion space shared by the generator, the renderer and the evaluation.

One frame of motion is a float32 vector of ``MOTION_DIM`` values, always in this order. Zero is
the portrait as photographed (its own pose, expression and gaze), except for the mouth's opening,
which is absolute: jaw_open 0 means the lips touch even if the photo shows them parted, so a
talking head closes its mouth in silence. Image axes: x grows to the right, y downwards.

==============  =========  ================================================================
field           range      meaning
==============  =========  ================================================================
yaw             radians    head turn; + turns the face towards the image's right
pitch           radians    head nod; + tips the chin down
roll            radians    head tilt in the image plane; + rotates clockwise
tx, ty          face units head translation, in inter-ocular distances; + right / + down
scale           log ratio  head distance; + is closer (bigger), 0 is the portrait's
jaw_open        0..1       jaw drop; 1 ≈ a wide-open "ah" (inner-lip gap ≈ 0.6 inter-ocular)
lip_width       -1..1      + spreads the lips ("ee"), - narrows them
lip_round       0..1       rounding and protrusion ("oo", "w")
lip_corner      -1..1      + raises the corners (smile), - lowers them
lip_press       0..1       lips pressed together (p, b, m); overrides a small jaw_open
blink_left      0..1       subject's left eye (image right) lid closure, 1 = fully closed
blink_right     0..1       subject's right eye (image left) lid closure
brow_raise      -1..1      + raises both brows, - furrows
gaze_x          -1..1      iris shift; + towards the image's right, 1 ≈ eye corner
gaze_y          -1..1      iris shift; + downwards
==============  =========  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Field(IntEnum):
    YAW = 0
    PITCH = 1
    ROLL = 2
    TX = 3
    TY = 4
    SCALE = 5
    JAW_OPEN = 6
    LIP_WIDTH = 7
    LIP_ROUND = 8
    LIP_CORNER = 9
    LIP_PRESS = 10
    BLINK_LEFT = 11
    BLINK_RIGHT = 12
    BROW_RAISE = 13
    GAZE_X = 14
    GAZE_Y = 15


MOTION_DIM = len(Field)
FIELD_NAMES: tuple[str, ...] = tuple(f.name.lower() for f in Field)

POSE_FIELDS = (Field.YAW, Field.PITCH, Field.ROLL, Field.TX, Field.TY, Field.SCALE)
MOUTH_FIELDS = (Field.JAW_OPEN, Field.LIP_WIDTH, Field.LIP_ROUND, Field.LIP_CORNER, Field.LIP_PRESS)
EYE_FIELDS = (Field.BLINK_LEFT, Field.BLINK_RIGHT, Field.GAZE_X, Field.GAZE_Y)

# Valid range of each field, used to clip generated motion before rendering.
FIELD_LIMITS = np.array(
    [
        (-0.6, 0.6),  # yaw
        (-0.5, 0.5),  # pitch
        (-0.4, 0.4),  # roll
        (-1.0, 1.0),  # tx
        (-1.0, 1.0),  # ty
        (-0.4, 0.4),  # scale
        (0.0, 1.0),  # jaw_open
        (-1.0, 1.0),  # lip_width
        (0.0, 1.0),  # lip_round
        (-1.0, 1.0),  # lip_corner
        (0.0, 1.0),  # lip_press
        (0.0, 1.0),  # blink_left
        (0.0, 1.0),  # blink_right
        (-1.0, 1.0),  # brow_raise
        (-1.0, 1.0),  # gaze_x
        (-1.0, 1.0),  # gaze_y
    ],
    dtype=np.float32,
)


def clip_motion(motion: np.ndarray) -> np.ndarray:
    """Clip (..., MOTION_DIM) motion to each field's valid range."""
    return np.clip(motion, FIELD_LIMITS[:, 0], FIELD_LIMITS[:, 1]).astype(np.float32)


@dataclass(frozen=True)
class MotionSequence:
    """Per-frame motion at ``fps`` frames per second.

    values: (T, MOTION_DIM) float32, columns ordered as ``Field``.
    """

    values: np.ndarray
    fps: float = 25.0

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != MOTION_DIM:
            raise ValueError(f"motion must be (T, {MOTION_DIM}), got {self.values.shape}")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def field(self, f: Field) -> np.ndarray:
        """(T,) values of one field."""
        return self.values[:, int(f)]

    @classmethod
    def still(cls, frames: int, fps: float = 25.0) -> "MotionSequence":
        return cls(np.zeros((frames, MOTION_DIM), dtype=np.float32), fps)
