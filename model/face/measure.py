"""Geometric measurements of a face from its dlib 68 landmarks, and pupils from the eye pixels.

Every length is divided by the inter-ocular distance (between the eye centres), the motion
space's face unit, so the numbers do not depend on how large the face is in the frame. Vertical
and horizontal are taken in the face's own frame (the eye line rotated to horizontal), so a
tilted head does not read as a smile or raised brows. "Left" and "right" are the subject's: the
subject's left eye is on the image's right (``LEFT_EYE``, 42..47).

dlib has no iris points, so gaze comes from ``find_pupils``: the darkest roughly circular blob
inside each eye's landmark polygon.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.face.landmarks import (
    LEFT_BROW,
    LEFT_EYE,
    N_LANDMARKS,
    RIGHT_BROW,
    RIGHT_EYE,
    estimate_head_pose,
    eye_centres,
)
from model.face.types import FRAME_SIZE

# An eye whose aspect ratio is below this is treated as closed: no pupil is looked for.
CLOSED_EYE_EAR = 0.12
_EYE_CROP_WIDTH = 48  # eyes are resampled to this width (px) before the pupil search
_IRIS_RADIUS = 0.19  # iris radius as a share of the eye's corner-to-corner width
_CONTRAST_FULL = 60.0  # iris-vs-sclera grey-level difference that gives confidence 1


@dataclass(frozen=True)
class EyePupil:
    """The pupil (iris centre) found in one eye.

    position: (2,) float32 (x, y) in image pixels.
    offset: (2,) float32 (horizontal, vertical) in -1..1: 0 is the middle of the eye, ±1 its
        corners horizontally (+ towards the image's right) and its lids vertically (+ down).
    confidence: 0..1, from the grey-level contrast of the blob against the rest of the eye.
    """

    position: np.ndarray
    offset: np.ndarray
    confidence: float


@dataclass(frozen=True)
class PupilEstimate:
    """Pupils of both eyes; an eye is None when it is closed or no blob could be found."""

    left: EyePupil | None  # subject's left eye (image right)
    right: EyePupil | None  # subject's right eye (image left)

    @property
    def offset(self) -> np.ndarray | None:
        """(2,) confidence-weighted mean offset of the eyes found, or None if neither was."""
        eyes = [e for e in (self.left, self.right) if e is not None]
        if not eyes:
            return None
        w = np.array([max(e.confidence, 1e-3) for e in eyes])
        return (np.stack([e.offset for e in eyes]) * w[:, None]).sum(0).astype(np.float32) / w.sum()


@dataclass(frozen=True)
class FaceMeasurements:
    """Measurements of one face. Ratios are in inter-ocular units (iod).

    interocular: distance between the eye centres, px.
    aperture: mean inner-lip gap (61-67, 62-66, 63-65) / iod; 0 = lips touching.
    mouth_width: outer lip corners (48-54) / iod.
    lip_thickness: outer-lip height minus the inner gap (vermilion visible) / iod.
    lip_corner: height of the lip corners above the lip centre line / iod (smile +).
    ear_left, ear_right: eye aspect ratios (lid gaps over corner distance), ~0.3 open, <0.12 shut.
    brow_height: mean height of the brows above their eye's centre / iod.
    pose: (3,) float32 yaw, pitch, roll in radians (``model.motion.space`` signs).
    centre: (2,) float32 mean of the 68 landmarks, px.
    nose_length: eye midpoint to the base of the nose (33) / iod; with the iod, a size cue
        that mouth movement does not change.
    pupils: set when an image was measured.
    """

    interocular: float
    aperture: float
    mouth_width: float
    lip_thickness: float
    lip_corner: float
    ear_left: float
    ear_right: float
    brow_height: float
    pose: np.ndarray
    centre: np.ndarray
    nose_length: float
    pupils: PupilEstimate | None = None


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """EAR of (6, 2) eye points in dlib order: (|p1-p5| + |p2-p4|) / (2 |p0-p3|)."""
    lids = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    return float(lids / (2.0 * max(np.linalg.norm(eye[0] - eye[3]), 1e-6)))


def _face_frame(pts: np.ndarray) -> tuple[np.ndarray, float]:
    """Landmarks rotated so the eye line is horizontal, about the eye midpoint; and the iod."""
    left, right = eye_centres(pts)
    d = right - left
    iod = max(float(np.hypot(d[0], d[1])), 1e-6)
    c, s = d / iod
    rot = np.array([[c, s], [-s, c]])  # rotates the eye line onto +x
    return (pts - (left + right) / 2.0) @ rot.T, iod


def measure_face(
    landmarks: np.ndarray,
    image: np.ndarray | None = None,
    image_size: tuple[int, int] | None = None,
) -> FaceMeasurements:
    """Measure a face from (68, 2) landmarks in pixel coordinates.

    image: optional (H, W, 3) uint8 RGB (or (H, W) grey) frame the landmarks belong to; when
    given, the pupils are searched too. image_size: (height, width) for the pose camera, taken
    from ``image`` when omitted, else a FRAME_SIZE square.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2) or not np.all(np.isfinite(pts)):
        raise ValueError(f"landmarks must be finite ({N_LANDMARKS}, 2), got {pts.shape}")
    f, iod = _face_frame(pts)
    f = f / iod
    gap = np.mean([np.linalg.norm(f[a] - f[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    outer_height = np.linalg.norm(f[51] - f[57])
    centre_line_y = (f[51, 1] + f[57, 1] + f[62, 1] + f[66, 1]) / 4.0
    brow_r = f[RIGHT_EYE, 1].mean() - f[RIGHT_BROW, 1].mean()
    brow_l = f[LEFT_EYE, 1].mean() - f[LEFT_BROW, 1].mean()
    if image_size is None:
        image_size = image.shape[:2] if image is not None else (FRAME_SIZE, FRAME_SIZE)
    return FaceMeasurements(
        interocular=iod,
        aperture=float(gap),
        mouth_width=float(np.linalg.norm(f[54] - f[48])),
        lip_thickness=float(max(outer_height - gap, 0.0)),
        lip_corner=float(centre_line_y - (f[48, 1] + f[54, 1]) / 2.0),
        ear_left=eye_aspect_ratio(pts[LEFT_EYE]),
        ear_right=eye_aspect_ratio(pts[RIGHT_EYE]),
        brow_height=float((brow_r + brow_l) / 2.0),
        pose=estimate_head_pose(pts, (int(image_size[0]), int(image_size[1]))),
        centre=pts.mean(axis=0).astype(np.float32),
        nose_length=float(np.linalg.norm(f[33])),
        pupils=find_pupils(image, pts) if image is not None else None,
    )


def find_pupils(image: np.ndarray, landmarks: np.ndarray) -> PupilEstimate:
    """Find the pupil of each eye of (68, 2) landmarks in an (H, W, 3) RGB or (H, W) grey image.

    The pupil is the centre of the darkest disc (about an iris in size) inside the eye polygon,
    refined by a darkness-weighted centroid. An eye is None when closed (EAR < CLOSED_EYE_EAR)
    or too small or too close to the image border to search.
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    pts = np.asarray(landmarks, dtype=np.float64)
    return PupilEstimate(
        left=_find_pupil(gray, pts[LEFT_EYE]), right=_find_pupil(gray, pts[RIGHT_EYE])
    )


def _find_pupil(gray: np.ndarray, eye: np.ndarray) -> EyePupil | None:
    if eye_aspect_ratio(eye) < CLOSED_EYE_EAR:
        return None
    width = float(np.linalg.norm(eye[3] - eye[0]))
    if width < 6.0:
        return None
    # Resample the eye's bounding box (plus a margin) to a fixed width: one code path and one
    # kernel size whatever the face size.
    scale = _EYE_CROP_WIDTH / width
    x0, y0 = eye.min(axis=0) - 0.15 * width
    x1, y1 = eye.max(axis=0) + 0.15 * width
    h_img, w_img = gray.shape
    if x0 < 0 or y0 < 0 or x1 > w_img or y1 > h_img:
        return None
    size = (int(round((x1 - x0) * scale)), int(round((y1 - y0) * scale)))
    affine = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
    crop = cv2.warpAffine(gray, affine, size, flags=cv2.INTER_LINEAR).astype(np.float32)
    poly = (eye - (x0, y0)) * scale
    mask = np.zeros(crop.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(poly * 4).astype(np.int32), 1, cv2.LINE_8, shift=2)
    centre = _darkest_disc(crop, mask.astype(bool))
    if centre is None:
        return None
    pos, confidence = centre
    position = pos / scale + (x0, y0)
    return EyePupil(
        position=position.astype(np.float32),
        offset=_eye_offset(eye, position),
        confidence=confidence,
    )


def _darkest_disc(crop: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Centre (x, y) in crop pixels of the darkest iris-sized disc inside mask, and a confidence."""
    inside = crop[mask]
    if inside.size < 12:
        return None
    lo, hi = np.percentile(inside, [5, 95])
    dark = np.clip((hi - crop) / max(hi - lo, 1.0), 0.0, 1.0) * mask
    r = max(_IRIS_RADIUS * _EYE_CROP_WIDTH, 2.0)
    k = int(np.ceil(r))
    yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
    disc = (xx * xx + yy * yy <= r * r).astype(np.float32)
    # Mean darkness over the disc, counting pixels outside the eye as not dark: the iris is
    # mostly inside the lids, so a disc centred on the corner shadows scores lower.
    score = cv2.filter2D(dark, -1, disc / disc.sum(), borderType=cv2.BORDER_CONSTANT)
    cy, cx = np.unravel_index(int(np.argmax(score)), score.shape)
    yy, xx = np.mgrid[: crop.shape[0], : crop.shape[1]]
    blob = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & mask
    weights = dark * blob
    if weights.sum() <= 1e-6:
        return None
    ys, xs = np.nonzero(blob)
    w = weights[ys, xs]
    pos = np.array([np.dot(xs, w), np.dot(ys, w)]) / w.sum()
    rest = mask & ~blob
    contrast = (crop[rest].mean() - crop[blob].mean()) if rest.any() else 0.0
    return pos, float(np.clip(contrast / _CONTRAST_FULL, 0.0, 1.0))


def _eye_offset(eye: np.ndarray, position: np.ndarray) -> np.ndarray:
    """(2,) offset of ``position`` in the eye: ±1 at the corners (x) and the lids (y)."""
    axis = eye[3] - eye[0]
    width = max(float(np.hypot(*axis)), 1e-6)
    u = axis / width
    if u[0] < 0:  # + always towards the image's right, whichever corner is listed first
        u = -u
    v = np.array([-u[1], u[0]])  # u rotated +90° on screen: points down
    mid = (eye[0] + eye[3]) / 2.0
    upper = (eye[1] + eye[2]) / 2.0
    lower = (eye[4] + eye[5]) / 2.0
    height = max(float(np.dot(lower - upper, v)), 1e-6)
    centre_y = float(np.dot((upper + lower) / 2.0 - mid, v))
    ox = np.dot(position - mid, u) / (width / 2.0)
    oy = (np.dot(position - mid, v) - centre_y) / (height / 2.0)
    return np.clip(np.array([ox, oy]), -1.0, 1.0).astype(np.float32)
