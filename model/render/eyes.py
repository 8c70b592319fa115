"""The eye stage: gaze and blinks, drawn on the portrait before the warp carries them along.

Both work on a small region around each eye of the *source* portrait (eyes level after
alignment, so lid curves are functions of the column):

- gaze: the iris is found once (``model.face.measure.find_pupils``, the darkest iris-sized disc
  in the eye polygon), cut out as a soft disc sprite, and the eye behind it is filled with the
  sclera colour. Each frame the sprite is shifted (gaze 1 puts the iris near the corner) and
  clipped by the eye opening.
- blink: the upper lid slides down over the eye. Rows between the lid band's top (``LID_BAND``
  above the lid) and the new lid line N = U + b (L - U) sample the lid band stretched to reach N,
  so the skin and lashes come down and *occlude* the eye (rows below N are untouched), with a
  darker lash line along N. At b = 1 the lid meets the lower lid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.face.landmarks import LEFT_EYE, RIGHT_EYE
from model.face.measure import EyePupil, find_pupils
from model.motion.basis import FaceFrame
from model.motion.space import Field

LID_BAND = 0.22  # lid skin above the margin that takes part in the slide, iod
LASH_WIDTH = 0.03  # darkened band above the closing lid line, iod
IRIS_RADIUS = 0.19  # share of the corner-to-corner width (as in model.face.measure)
_CORNER_STOP = 1.2  # gaze 1 stops the iris centre this many radii from the corner


@dataclass(frozen=True)
class _Iris:
    """A movable iris. sprite_alpha / empty: ROI-sized; ranges in px (left, right, vertical)."""

    sprite_alpha: np.ndarray  # (h, w) float32
    empty: np.ndarray  # (h, w, 3) float32 eye with the iris painted over by sclera
    reach: tuple[float, float, float]


@dataclass(frozen=True)
class _Eye:
    """One eye's region and lid geometry, all in ROI pixels.

    box: (y0, y1, x0, x1) in the frame; upper, lower: (w,) lid lines per column;
    mask: (h, w, 1) float32 eye opening; grid_x, grid_y: (h, w) float32 pixel coordinates.
    """

    box: tuple[int, int, int, int]
    upper: np.ndarray
    lower: np.ndarray
    mask: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    band: float
    lash: float
    iris: _Iris | None


def _lid_lines(eye: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w,) upper and lower lid y at columns xs, from the 6 dlib eye points."""
    upper, lower = eye[[0, 1, 2, 3]], eye[[0, 5, 4, 3]]
    u = upper[np.argsort(upper[:, 0])]
    lo = lower[np.argsort(lower[:, 0])]
    return np.interp(xs, u[:, 0], u[:, 1]), np.interp(xs, lo[:, 0], lo[:, 1])


def _bind_eye(image: np.ndarray, eye: np.ndarray, iod: float, pupil: EyePupil | None) -> _Eye:
    band = LID_BAND * iod
    h_img, w_img = image.shape[:2]
    x0 = int(max(np.floor(eye[:, 0].min() - 0.08 * iod), 0))
    x1 = int(min(np.ceil(eye[:, 0].max() + 0.08 * iod) + 1, w_img))
    y0 = int(max(np.floor(eye[:, 1].min() - band - 0.05 * iod), 0))
    y1 = int(min(np.ceil(eye[:, 1].max() + 0.05 * iod) + 1, h_img))
    xs = np.arange(x0, x1, dtype=np.float64)
    upper, lower = _lid_lines(eye, xs)
    upper, lower = upper - y0, lower - y0
    poly = np.round((eye - (x0, y0)) * 8).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift=3)
    gx, gy = np.meshgrid(np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32))
    roi = image[y0:y1, x0:x1]
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))  # dlib's polygon sits just inside the lids
    maskf = (cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) / 255.0)[:, :, None]
    iris = _bind_iris(roi, maskf, eye - (x0, y0), pupil, (x0, y0))
    return _Eye(
        (y0, y1, x0, x1),
        upper.astype(np.float32),
        lower.astype(np.float32),
        maskf,
        gx,
        gy,
        band,
        LASH_WIDTH * iod,
        iris,
    )


def _bind_iris(
    roi: np.ndarray,
    mask: np.ndarray,
    eye: np.ndarray,
    pupil: EyePupil | None,
    origin: tuple[int, int],
) -> _Iris | None:
    if pupil is None:
        return None
    cx, cy = pupil.position - np.asarray(origin, dtype=np.float32)
    r = IRIS_RADIUS * float(np.linalg.norm(eye[3] - eye[0]))
    h, w = roi.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    dist = np.hypot(gx - cx, gy - cy)
    fill = (np.clip((r + 4.5 - dist) / 2.0, 0.0, 1.0) * mask[:, :, 0])[:, :, None]
    # Behind the iris: each row interpolated between the sclera just left and right of it, so
    # the lid shading and the sclera's own tint carry straight across.
    x_lo = float(max(cx - r - 5.0, eye[:, 0].min() + 1.0, 0.0))
    x_hi = float(min(cx + r + 5.0, eye[:, 0].max() - 1.0, w - 1.0))
    rows = np.arange(h)
    left = _sample_column(roi, x_lo, rows)
    right = _sample_column(roi, x_hi, rows)
    t = np.clip((gx - x_lo) / max(x_hi - x_lo, 1.0), 0.0, 1.0)[:, :, None]
    painted = left[:, None, :] * (1.0 - t) + right[:, None, :] * t
    empty = roi.astype(np.float32) * (1.0 - fill) + painted * fill
    xs = eye[:, 0]
    reach = (
        max(cx - (xs.min() + _CORNER_STOP * r), 0.0),
        max(xs.max() - _CORNER_STOP * r - cx, 0.0),
        0.3 * r,
    )
    alpha = np.clip((r + 1.5 - dist) / 1.5, 0.0, 1.0).astype(np.float32)
    return _Iris(alpha, empty.astype(np.float32), reach)


def _sample_column(roi: np.ndarray, x: float, rows: np.ndarray) -> np.ndarray:
    """(h, 3) float32 colours of column x (linear between pixels) at the given rows."""
    i = int(np.floor(x))
    j = min(i + 1, roi.shape[1] - 1)
    f = x - i
    return roi[rows, i].astype(np.float32) * (1.0 - f) + roi[rows, j].astype(np.float32) * f


class EyeStage:
    """Gaze and blink edits of the two eye regions (see the module docstring)."""

    def __init__(self, right: _Eye, left: _Eye) -> None:
        self._eyes = ((right, Field.BLINK_RIGHT), (left, Field.BLINK_LEFT))

    @classmethod
    def bind(cls, image: np.ndarray, landmarks: np.ndarray, frame: FaceFrame) -> "EyeStage":
        """image: (512, 512, 3) uint8 portrait; landmarks: (68, 2) px."""
        pupils = find_pupils(image, landmarks)
        return cls(
            _bind_eye(image, landmarks[RIGHT_EYE], frame.unit, pupils.right),
            _bind_eye(image, landmarks[LEFT_EYE], frame.unit, pupils.left),
        )

    def apply(self, work: np.ndarray, original: np.ndarray, motion: np.ndarray) -> None:
        """Write both eye regions of ``work`` for this (16,) motion, from ``original``."""
        gaze = (float(motion[int(Field.GAZE_X)]), float(motion[int(Field.GAZE_Y)]))
        for eye, blink_field in self._eyes:
            y0, y1, x0, x1 = eye.box
            roi = original[y0:y1, x0:x1]
            blink = float(motion[int(blink_field)])
            if blink <= 0.0 and gaze == (0.0, 0.0):
                work[y0:y1, x0:x1] = roi
                continue
            out = roi.astype(np.float32)
            if eye.iris is not None and gaze != (0.0, 0.0):
                out = _move_iris(out, eye, gaze)
            if blink > 0.0:
                out = _close_lid(out, eye, blink)
            work[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _move_iris(roi: np.ndarray, eye: _Eye, gaze: tuple[float, float]) -> np.ndarray:
    iris = eye.iris
    left, right, vertical = iris.reach
    dx = gaze[0] * (right if gaze[0] > 0 else left)
    dy = gaze[1] * vertical
    shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    size = (roi.shape[1], roi.shape[0])
    sprite = cv2.warpAffine(
        roi, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    alpha = cv2.warpAffine(iris.sprite_alpha, shift, size, flags=cv2.INTER_LINEAR)
    a = alpha[:, :, None] * eye.mask
    moved = iris.empty * (1.0 - a) + sprite * a
    return moved * eye.mask + roi * (1.0 - eye.mask)


def _close_lid(roi: np.ndarray, eye: _Eye, blink: float) -> np.ndarray:
    gap = np.maximum(eye.lower - eye.upper, 0.0)
    drop = blink * gap  # (w,) how far the lid margin comes down
    line = eye.upper + drop
    top = eye.upper - eye.band
    y = eye.grid_y
    # The lid above the new margin is shifted down by `drop`, easing in from `top` (smoothstep),
    # so the lashes travel rigidly and the skin above them stretches.
    t = np.clip((y - top) / np.maximum(line - top, 1e-3), 0.0, 1.0)
    src_y = (y - drop * t * t * (3.0 - 2.0 * t)).astype(np.float32)
    lid = cv2.remap(roi, eye.grid_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Darker lashes just above the new margin, fading towards the corners where the lids meet.
    fade = np.clip(gap / (0.5 * max(float(gap.max()), 1e-3)), 0.0, 1.0)
    above = line - y
    lash = np.clip(1.0 - np.abs(above - 0.5 * eye.lash) / eye.lash, 0.0, 1.0) * fade
    lid = lid * (1.0 - 0.3 * blink * lash)[:, :, None]
    alpha = np.clip(above + 0.5, 0.0, 1.0)[:, :, None]
    return lid * alpha + roi * (1.0 - alpha)
