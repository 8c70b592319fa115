"""The motion basis: what each motion field does to the 68 dlib landmarks.

All offsets live in an upright *face frame*: origin midway between the eye centres, x along the
eye line towards the image's right, y perpendicular to it and down, unit = inter-ocular distance.
Depths come from ``model.face.landmarks.FACE_TEMPLATE_3D`` (z away from the viewer).

Order of application: the portrait's own inner-lip gap is closed first (the mouth fields are
absolute: jaw_open 0 means lips together, whatever the photo shows), then the linear
facial-dynamics offsets, then the two nonlinear pieces (lip_press, blinks) on the result, then
the head pose. Values are offsets per unit of the field; the main
points are listed, their mirror images move mirrored (x negated).

===========  =================================================================================
field        landmark offsets (face units)
===========  =================================================================================
jaw_open     chin 8 +0.50 down, jaw 2..14 tapering to +0.02; lower lip (57, 66) +0.57, its
             sides +0.45..0.55; corners (48, 60) +0.20 down and 0.06 inwards; upper lip
             -0.02..-0.03 (up). Inner-lip gap at 1 = 0.60.
lip_width    corners 48/54 -/+0.10 (spread), lip points beside them -/+0.03..0.06; lips thin
             by 0.01 each. Negative narrows (linear).
lip_round    corners 0.13 inwards, lip sides 0.03..0.07 inwards; a small round opening (inner
             upper -0.03, inner lower +0.05); outer lips pout vertically by 0.02..0.03.
lip_corner   corners 0.15 up (inner 0.13) and 0.07 outwards, their neighbours 0.055..0.075
             up. Negative lowers them.
lip_press    nonlinear: whatever inner-lip gap g remains (per pair 61-67, 62-66, 63-65) is
             closed, the upper lip moving 0.4 g down and the lower lip (and jaw, in proportion
             to its jaw_open weight) 0.6 g up; outer lips follow the inner ones.
blink_*      nonlinear: upper lid points (37, 38 / 43, 44) move straight down onto the lower
             lid line (41, 40 / 47, 46) by the blink fraction. blink_right = 36..41 (image left).
brow_raise   brows 0.08..0.11 up (inner ends also 0.02 apart), upper lids 0.015 up.
             Negative lowers them and draws the inner ends together (furrow).
gaze_x/y     no landmark offset: the renderer moves the irises.
yaw, pitch,  3-D rotation ``landmarks.rotation_matrix`` of (x, y, template depth) about
roll         ``PIVOT`` (behind the face, at ear height), orthographic projection.
scale        exp(scale) about the source landmarks' centroid.
tx, ty       translation in face units.
===========  =================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.face.landmarks import (
    FACE_TEMPLATE_3D,
    MIRROR_INDEX,
    N_LANDMARKS,
    eye_centres,
    rotation_matrix,
)
from model.motion.space import MOTION_DIM, Field

# Rotation centre of the head in face units (x, y, z away): near the top of the neck.
PIVOT = np.array([0.0, 0.6, 1.2])
LANDMARK_DEPTH: np.ndarray = FACE_TEMPLATE_3D[:, 2].astype(np.float64)

_LINEAR_FIELDS = (
    Field.JAW_OPEN,
    Field.LIP_WIDTH,
    Field.LIP_ROUND,
    Field.LIP_CORNER,
    Field.BROW_RAISE,
)

# Image-left half and midline of each linear field: index -> (dx, dy) per unit.
# fmt: off
_HALF_BASIS: dict[Field, dict[int, tuple[float, float]]] = {
    Field.JAW_OPEN: {
        2: (0.0, 0.02), 3: (0.0, 0.06), 4: (0.0, 0.15), 5: (0.02, 0.27), 6: (0.02, 0.38),
        7: (0.01, 0.46), 8: (0.0, 0.50),
        48: (0.06, 0.20), 49: (0.01, -0.01), 50: (0.0, -0.02), 51: (0.0, -0.02),
        59: (0.04, 0.45), 58: (0.02, 0.55), 57: (0.0, 0.57),
        60: (0.06, 0.22), 61: (0.01, -0.03), 62: (0.0, -0.03), 67: (0.03, 0.55), 66: (0.0, 0.57),
    },
    Field.LIP_WIDTH: {
        4: (-0.01, 0.0), 5: (-0.01, 0.0),
        48: (-0.10, 0.0), 49: (-0.06, 0.01), 50: (-0.03, 0.01), 51: (0.0, 0.01),
        59: (-0.06, -0.01), 58: (-0.03, -0.01), 57: (0.0, -0.01),
        60: (-0.09, 0.0), 61: (-0.05, 0.01), 62: (0.0, 0.005), 67: (-0.05, -0.01),
        66: (0.0, -0.005),
    },
    Field.LIP_ROUND: {
        48: (0.13, 0.0), 49: (0.07, -0.02), 50: (0.03, -0.02), 51: (0.0, -0.02),
        59: (0.07, 0.02), 58: (0.03, 0.03), 57: (0.0, 0.03),
        60: (0.12, 0.0), 61: (0.06, -0.02), 62: (0.0, -0.03), 67: (0.06, 0.03), 66: (0.0, 0.05),
    },
    # Strong enough that an emotion's smile or frown reads on a face that already smiles.
    Field.LIP_CORNER: {
        3: (-0.015, -0.015), 4: (-0.015, -0.015), 31: (-0.015, -0.015),
        48: (-0.07, -0.15), 49: (-0.035, -0.075), 50: (0.0, -0.02), 59: (-0.035, -0.075),
        58: (0.0, -0.02), 60: (-0.07, -0.13), 61: (-0.02, -0.055), 67: (-0.02, -0.055),
    },
    Field.BROW_RAISE: {
        17: (0.0, -0.08), 18: (0.0, -0.10), 19: (0.0, -0.11), 20: (0.0, -0.11),
        21: (-0.02, -0.10), 37: (0.0, -0.015), 38: (0.0, -0.015),
    },
}
# fmt: on

# Inner-lip pairs (upper, lower) and the outer points that follow each pair under lip_press.
_LIP_PAIRS = np.array([[61, 67], [62, 66], [63, 65]])
_UPPER_OUTER = {49: (0, 0.5), 50: (0, 1.0), 51: (1, 1.0), 52: (2, 1.0), 53: (2, 0.5)}
_LOWER_OUTER = {59: (0, 0.5), 58: (0, 1.0), 57: (1, 1.0), 56: (2, 1.0), 55: (2, 0.5)}
# Upper lid point -> lower lid point below it, for each eye.
_LID_PAIRS = {
    Field.BLINK_RIGHT: np.array([[37, 41], [38, 40]]),
    Field.BLINK_LEFT: np.array([[43, 47], [44, 46]]),
}


def _full_basis() -> np.ndarray:
    """(len(_LINEAR_FIELDS), 68, 2) offsets per unit of each linear field, mirrored."""
    basis = np.zeros((len(_LINEAR_FIELDS), N_LANDMARKS, 2))
    for k, f in enumerate(_LINEAR_FIELDS):
        for i, (dx, dy) in _HALF_BASIS[f].items():
            basis[k, i] = (dx, dy)
            m = MIRROR_INDEX[i]
            if m != i:
                basis[k, m] = (-dx, dy)
    return basis


LINEAR_BASIS: np.ndarray = _full_basis()
LINEAR_BASIS.setflags(write=False)
# How much each point follows the lower lip when the jaw opens (lip_press lifts it back).
_JAW_FOLLOW = np.clip(LINEAR_BASIS[0, :, 1] / LINEAR_BASIS[0, 66, 1], 0.0, 1.0)
_JAW_FOLLOW[48:68] = 0.0  # lips are moved explicitly


@dataclass(frozen=True)
class FaceFrame:
    """The upright face frame of a face: face = ((p - origin) @ axes.T) / unit.

    origin: (2,) eye midpoint in px; axes: (2, 2) rows = x and y unit vectors in the image;
    unit: inter-ocular distance in px.
    """

    origin: np.ndarray
    axes: np.ndarray
    unit: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> "FaceFrame":
        left, right = eye_centres(np.asarray(landmarks, dtype=np.float64))
        d = right - left
        unit = max(float(np.hypot(d[0], d[1])), 1e-6)
        ex = d / unit
        axes = np.array([ex, [-ex[1], ex[0]]])  # y = x rotated +90° on screen (down)
        return cls(origin=(left + right) / 2.0, axes=axes, unit=unit)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) image px -> face units."""
        return ((np.asarray(points, np.float64) - self.origin) @ self.axes.T) / self.unit

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) face units -> image px."""
        return (np.asarray(points, np.float64) * self.unit) @ self.axes + self.origin


def _as_batch(motion: np.ndarray) -> np.ndarray:
    m = np.asarray(motion, dtype=np.float64)
    if m.shape[-1] != MOTION_DIM or m.ndim not in (1, 2):
        raise ValueError(f"motion must be ({MOTION_DIM},) or (T, {MOTION_DIM}), got {m.shape}")
    return m.reshape(-1, MOTION_DIM)


def expression_offsets(face_points: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """(T, 68, 2) facial-dynamics offsets in face units.

    face_points: (68, 2) source landmarks in face units; motion: (T, 16). No head pose.
    """
    m = _as_batch(motion)
    weights = m[:, [int(f) for f in _LINEAR_FIELDS]]  # (T, 5)
    # The mouth fields are absolute: jaw_open 0 is lips together even when the portrait was
    # photographed mid-word or smiling with parted lips, so silence renders a closed mouth.
    rest = _press_offsets(face_points[None], np.ones(1))
    offsets = rest + np.einsum("tk,knd->tnd", weights, LINEAR_BASIS)
    moved = face_points[None] + offsets
    offsets += _press_offsets(moved, m[:, int(Field.LIP_PRESS)])
    moved = face_points[None] + offsets
    for f, pairs in _LID_PAIRS.items():
        gap = moved[:, pairs[:, 1], 1] - moved[:, pairs[:, 0], 1]  # (T, 2), lower - upper
        offsets[:, pairs[:, 0], 1] += m[:, int(f), None] * np.maximum(gap, 0.0)
    return offsets


def _press_offsets(moved: np.ndarray, press: np.ndarray) -> np.ndarray:
    """(T, 68, 2) offsets closing the remaining inner-lip gap of (T, 68, 2) points by press."""
    gap = np.maximum(moved[:, _LIP_PAIRS[:, 1], 1] - moved[:, _LIP_PAIRS[:, 0], 1], 0.0)
    close = press[:, None] * gap  # (T, 3)
    out = np.zeros_like(moved)
    out[:, _LIP_PAIRS[:, 0], 1] = 0.4 * close
    out[:, _LIP_PAIRS[:, 1], 1] = -0.6 * close
    for i, (k, w) in _UPPER_OUTER.items():
        out[:, i, 1] = 0.4 * w * close[:, k]
    for i, (k, w) in _LOWER_OUTER.items():
        out[:, i, 1] = -0.6 * w * close[:, k]
    out[:, :, 1] -= 0.6 * close[:, 1, None] * _JAW_FOLLOW[None]
    return out


def apply_pose(
    face_points: np.ndarray, depth: np.ndarray, motion: np.ndarray, centre: np.ndarray
) -> np.ndarray:
    """(T, N, 2) points after the head pose, face units.

    face_points: (T, N, 2) or (N, 2) face units; depth: (N,) z away from the viewer;
    motion: (T, 16); centre: (2,) the scaling centre in face units.
    """
    m = _as_batch(motion)
    pts = np.broadcast_to(face_points, (m.shape[0], *np.shape(face_points)[-2:]))
    xyz = np.concatenate([pts, np.broadcast_to(depth[None, :, None], (*pts.shape[:2], 1))], -1)
    rot = np.stack([rotation_matrix(*row[:3]) for row in m])  # (T, 3, 3)
    turned = np.einsum("tij,tnj->tni", rot, xyz - PIVOT) + PIVOT
    scale = np.exp(m[:, int(Field.SCALE)])[:, None, None]
    shift = m[:, [int(Field.TX), int(Field.TY)]][:, None, :]
    return centre + scale * (turned[..., :2] - centre) + shift


def target_landmarks(source: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Landmarks of the portrait moved by motion: (68, 2) for (16,) motion, (T, 68, 2) for (T, 16).

    source: (68, 2) landmarks in image pixels; the result is in the same pixels.
    """
    src = np.asarray(source, dtype=np.float64)
    if src.shape != (N_LANDMARKS, 2):
        raise ValueError(f"source landmarks must be ({N_LANDMARKS}, 2), got {src.shape}")
    frame = FaceFrame.from_landmarks(src)
    face = frame.to_face(src)
    m = _as_batch(motion)
    moved = face[None] + expression_offsets(face, m)
    posed = apply_pose(moved, LANDMARK_DEPTH, m, face.mean(axis=0))
    out = frame.to_image(posed).astype(np.float32)
    return out[0] if np.ndim(motion) == 1 else out
