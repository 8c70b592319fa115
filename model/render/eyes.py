"""The eye stage: gaze and blinks, drawn on the portrait before the warp carries them along.

Both work on a small region around each eye of the *source* portrait (eyes level after
alignment, so lid curves are functions of the column):

- gaze: the iris is found once (``model.face.measure.find_pupils``, the darkest iris-sized disc
  in the eye polygon), cut out as a soft disc sprite, and the eye behind it is filled with the
  sclera colour. The lids usually hide the iris's top and bottom: those parts of the sprite are
  completed from the visible iris, mirrored about its centre row (an iris is round), so that
  moving it never drags lid or lashes into the eye. Each frame the sprite is shifted
  (gaze_x 1 puts the iris near the corner, gaze_y 1 ``VERTICAL_REACH`` radii down) and clipped
  by the eye opening. Looking down, the upper lid follows the iris part of the way
  (``LID_FOLLOW``), as real lids do: the eye narrows from above instead of showing white over
  the iris.
- blink: the upper lid is drawn down over the eye (``model.render.lids``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.face.landmarks import LEFT_EYE, RIGHT_EYE
from model.face.measure import EyePupil, find_pupils
from model.motion.basis import FaceFrame
from model.motion.space import Field
from model.render.lids import Lid, bind_lid, close_lid, lid_rows

IRIS_RADIUS = 0.19  # share of the corner-to-corner width (as in model.face.measure)
_CORNER_STOP = 1.2  # gaze 1 stops the iris centre this many radii from the corner
VERTICAL_REACH = 1.0  # gaze_y 1 moves the iris this many radii (the lids hide the rest)
LID_FOLLOW = 0.3  # gaze_y 1 (down) lowers the upper lid by this share of the eye's opening


@dataclass(frozen=True)
class _Iris:
    """A movable iris. sprite, sprite_alpha, empty: ROI-sized; ranges in px (left, right,
    vertical)."""

    sprite: np.ndarray  # (h, w, 3) float32 the portrait's eye with the iris disc completed
    sprite_alpha: np.ndarray  # (h, w) float32
    empty: np.ndarray  # (h, w, 3) float32 eye with the iris painted over by sclera
    reach: tuple[float, float, float]


@dataclass(frozen=True)
class _Eye:
    """One eye's region and lid geometry, all in ROI pixels.

    box: (y0, y1, x0, x1) in the frame; mask: (h, w, 1) float32 eye opening.
    """

    box: tuple[int, int, int, int]
    mask: np.ndarray
    lid: Lid
    iris: _Iris | None


def _bind_eye(image: np.ndarray, eye: np.ndarray, iod: float, pupil: EyePupil | None) -> _Eye:
    h_img, w_img = image.shape[:2]
    top, bottom = lid_rows(eye, iod)
    x0 = int(max(np.floor(eye[:, 0].min() - 0.08 * iod), 0))
    x1 = int(min(np.ceil(eye[:, 0].max() + 0.08 * iod) + 1, w_img))
    y0 = int(max(np.floor(top), 0))
    y1 = int(min(np.ceil(bottom) + 1, h_img))
    poly = np.round((eye - (x0, y0)) * 8).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift=3)
    roi = image[y0:y1, x0:x1]
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))  # dlib's polygon sits just inside the lids
    maskf = (cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) / 255.0)[:, :, None]
    iris = _bind_iris(roi, maskf, eye - (x0, y0), pupil, (x0, y0))
    return _Eye((y0, y1, x0, x1), maskf, bind_lid(roi, eye - (x0, y0), iod), iris)


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
        VERTICAL_REACH * r,
    )
    alpha = np.clip((r + 1.5 - dist) / 1.5, 0.0, 1.0).astype(np.float32)
    sprite = _complete_iris(roi, mask[:, :, 0] > 0.5, cy, alpha > 0.0)
    return _Iris(sprite, alpha, empty.astype(np.float32), reach)


def _complete_iris(roi: np.ndarray, visible: np.ndarray, cy: float, disc: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 roi whose disc pixels hidden by the lids take the visible iris pixel
    mirrored about row cy (clamped into the column's visible run)."""
    h = roi.shape[0]
    rows = np.arange(h, dtype=np.float64)[:, None]
    has = visible.any(axis=0)  # (w,) columns with a visible run, from top to bottom
    top = visible.argmax(axis=0).astype(np.float64)
    bottom = (h - 1 - visible[::-1].argmax(axis=0)).astype(np.float64)
    mirrored = np.clip(2.0 * cy - rows, top, bottom)
    src_y = np.where(disc & ~visible & has[None, :], mirrored, rows).astype(np.float32)
    src_x = np.broadcast_to(np.arange(roi.shape[1], dtype=np.float32)[None, :], src_y.shape)
    out = cv2.remap(roi.astype(np.float32), np.ascontiguousarray(src_x), src_y, cv2.INTER_LINEAR)
    return out


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
            follow = LID_FOLLOW * max(gaze[1], 0.0)
            blink = float(motion[int(blink_field)])
            if blink <= 0.0 and gaze == (0.0, 0.0):
                work[y0:y1, x0:x1] = roi
                continue
            out = roi.astype(np.float32)
            if eye.iris is not None and gaze != (0.0, 0.0):
                out = _move_iris(out, eye, gaze)
            if blink > 0.0 or follow > 0.0:
                out = close_lid(out, eye.lid, blink, follow)
            work[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _move_iris(roi: np.ndarray, eye: _Eye, gaze: tuple[float, float]) -> np.ndarray:
    iris = eye.iris
    left, right, vertical = iris.reach
    dx = gaze[0] * (right if gaze[0] > 0 else left)
    dy = gaze[1] * vertical
    shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    size = (roi.shape[1], roi.shape[0])
    sprite = cv2.warpAffine(
        iris.sprite, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    alpha = cv2.warpAffine(iris.sprite_alpha, shift, size, flags=cv2.INTER_LINEAR)
    a = alpha[:, :, None] * eye.mask
    moved = iris.empty * (1.0 - a) + sprite * a
    return moved * eye.mask + roi * (1.0 - eye.mask)
