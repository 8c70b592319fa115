"""Portrait analysis: find the one face in a photo, check it is usable and align it to the frame.

    image (H, W[, 3|4]) uint8
      -> checks (dtype, shape, size)
      -> dlib HOG detection on a downscaled grey copy (upsampled once when faces are small)
      -> the largest face; a rival of similar size with a confident score is ambiguous
      -> 68 landmarks on the full-resolution image
      -> size and head-pose checks
      -> similarity transform (eyes level, fixed eye spacing) into the 512 x 512 frame
      -> ``Portrait``

Every rejection is a ``PortraitError`` leaf carrying the measured values as context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from model.errors import (
    ExtremePose,
    FaceTooSmall,
    ImageTooSmall,
    ImageUnreadable,
    MultipleFaces,
    NoFaceFound,
)
from model.face.dlib_models import face_detector, landmark_predictor
from model.face.landmarks import N_LANDMARKS, estimate_head_pose, eye_centres
from model.face.types import FRAME_SIZE, Portrait

# Where the eyes go in the output frame: level, 96 px apart, their midpoint a little above the
# centre so that hair, neck and shoulders fit.
FRAME_INTEROCULAR = 96.0
FRAME_EYE_MIDPOINT = (256.0, 215.0)

_HOG_MIN_FACE = 80  # dlib's HOG window: smallest face (px) it finds without upsampling


@dataclass(frozen=True)
class PortraitLimits:
    """What a usable portrait must satisfy. Angles in radians, sizes in source pixels."""

    min_side: int = 128
    max_pixels: int = 40_000_000
    min_interocular: float = 28.0
    max_yaw: float = math.radians(35.0)
    max_pitch: float = math.radians(30.0)
    max_roll: float = math.radians(40.0)
    # Another face at least this fraction of the largest face's box area makes the subject
    # ambiguous, if the detector is at least this sure of it (HOG scores: real faces ~1-2,
    # patterned clothing can reach ~0.1).
    rival_area_ratio: float = 0.5
    rival_min_score: float = 0.3
    detect_long_side: int = 1024  # detection runs on a copy no larger than this


@dataclass(frozen=True)
class _Detection:
    """One face found by the detector, box in source pixels (x0, y0, x1, y1)."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


def analyse_portrait(image: np.ndarray, limits: PortraitLimits = PortraitLimits()) -> Portrait:
    """Analyse one photograph and return the subject's face aligned to the output frame.

    image: (H, W, 3) RGB, (H, W, 4) RGBA (alpha ignored) or (H, W) grey, uint8.
    Raises ImageUnreadable, ImageTooSmall, NoFaceFound, MultipleFaces, FaceTooSmall or
    ExtremePose (all ``model.errors.PortraitError``).
    """
    rgb = _as_rgb(image)
    height, width = rgb.shape[:2]
    _check_size(height, width, limits)

    face = _pick_subject(_detect_faces(rgb, limits), limits)
    landmarks = _predict_landmarks(rgb, face.box)

    left, right = eye_centres(landmarks)
    interocular = float(np.linalg.norm(right - left))
    if interocular < limits.min_interocular:
        raise FaceTooSmall(
            f"the face is too small: eyes {interocular:.1f} px apart, "
            f"at least {limits.min_interocular:.0f} px needed",
            interocular=interocular,
            minimum=limits.min_interocular,
        )
    pose = estimate_head_pose(landmarks, (height, width))
    _check_pose(pose, limits)

    transform = alignment_transform(landmarks)
    frame = warp_to_frame(rgb, transform)
    aligned = _apply(transform, landmarks).astype(np.float32)
    x0, y0, x1, y1 = face.box
    corners = _apply(transform, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    face_box = (int(round(lo[0])), int(round(lo[1])), int(round(hi[0])), int(round(hi[1])))
    return Portrait(
        image=frame,
        landmarks=aligned,
        transform=transform,
        face_box=face_box,
        pose=pose,
        source_size=(height, width),
    )


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) contiguous uint8 RGB from RGB, RGBA or grey input."""
    if not isinstance(image, np.ndarray):
        raise ImageUnreadable(
            f"expected a numpy array, got {type(image).__name__}", reason="not_an_array"
        )
    if image.dtype != np.uint8:
        raise ImageUnreadable(
            f"expected uint8 pixels, got {image.dtype}", reason="bad_dtype", dtype=str(image.dtype)
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[:, :, :3])
    raise ImageUnreadable(
        f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}",
        reason="bad_shape",
        shape=tuple(image.shape),
    )


def _check_size(height: int, width: int, limits: PortraitLimits) -> None:
    if min(height, width) < limits.min_side:
        raise ImageTooSmall(
            f"the image is {width}x{height} px; its shorter side must be at least "
            f"{limits.min_side} px",
            width=width,
            height=height,
            minimum=limits.min_side,
        )
    if height * width > limits.max_pixels:
        raise ImageUnreadable(
            f"the image has {height * width} pixels, more than the {limits.max_pixels} allowed",
            reason="too_many_pixels",
            width=width,
            height=height,
            maximum=limits.max_pixels,
        )


def _detect_faces(rgb: np.ndarray, limits: PortraitLimits) -> list[_Detection]:
    """Faces on a downscaled grey copy, largest first, boxes mapped back to source pixels."""
    height, width = rgb.shape[:2]
    scale = min(1.0, limits.detect_long_side / max(height, width))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    detector = face_detector()
    found = _run_detector(detector, grey, 0)
    # Without upsampling HOG misses faces under ~80 px, so a rival half the area of a ~110 px
    # face could go unseen: look again at double resolution when faces are that small.
    largest = max((d.area for d in found), default=0.0)
    if math.sqrt(largest * limits.rival_area_ratio) < _HOG_MIN_FACE:
        found = _run_detector(detector, grey, 1)
    sx, sy = width / grey.shape[1], height / grey.shape[0]
    faces = [
        _Detection((d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy), d.score)
        for d in found
    ]
    return sorted(faces, key=lambda d: d.area, reverse=True)


def _run_detector(
    detector: dlib.fhog_object_detector, grey: np.ndarray, upsample: int
) -> list[_Detection]:
    rects, scores, _ = detector.run(grey, upsample, 0.0)
    return [
        _Detection((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), s)
        for r, s in zip(rects, scores, strict=True)
    ]


def _pick_subject(faces: list[_Detection], limits: PortraitLimits) -> _Detection:
    if not faces:
        raise NoFaceFound("no face was found in the image", detector="dlib_hog")
    subject = faces[0]
    rivals = [
        f
        for f in faces[1:]
        if f.area >= limits.rival_area_ratio * subject.area and f.score >= limits.rival_min_score
    ]
    if rivals:
        sizes = [round(math.sqrt(f.area)) for f in [subject, *rivals]]
        raise MultipleFaces(
            f"{len(sizes)} faces of similar size were found (box sides {sizes} px); "
            "use a photo with only the subject's face",
            count=len(sizes),
            sizes=sizes,
            scores=[round(float(f.score), 3) for f in [subject, *rivals]],
        )
    return subject


def _predict_landmarks(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(68, 2) float64 landmarks in source pixels, predicted on a crop around the box."""
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = box
    # The predictor samples only near the box; cropping saves copying a huge photo into dlib.
    pad = 0.5 * max(x1 - x0, y1 - y0)
    cx0, cy0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    cx1, cy1 = min(width, int(x1 + pad) + 1), min(height, int(y1 + pad) + 1)
    crop = np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1])
    rect = dlib.rectangle(
        int(round(x0)) - cx0, int(round(y0)) - cy0, int(round(x1)) - cx0, int(round(y1)) - cy0
    )
    shape = landmark_predictor()(crop, rect)
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2):  # pragma: no cover - dlib always returns 68 points
        raise NoFaceFound("the landmark predictor failed", points=int(pts.shape[0]))
    return pts + (cx0, cy0)


def _check_pose(pose: np.ndarray, limits: PortraitLimits) -> None:
    names = ("yaw", "pitch", "roll")
    maxima = np.array([limits.max_yaw, limits.max_pitch, limits.max_roll])
    excess = np.abs(pose) / maxima
    worst = int(np.argmax(excess))
    if excess[worst] > 1.0:
        value, limit = math.degrees(float(pose[worst])), math.degrees(float(maxima[worst]))
        raise ExtremePose(
            f"the head {('is turned', 'is tipped', 'is tilted')[worst]} too far: "
            f"{names[worst]} {value:+.0f}°, at most ±{limit:.0f}° allowed",
            angle=names[worst],
            value_deg=round(value, 1),
            limit_deg=round(limit, 1),
            pose_deg=[round(math.degrees(float(a)), 1) for a in pose],
        )


def alignment_transform(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) float64 similarity transform taking (68, 2) source landmarks to the frame.

    The eye centres land level, ``FRAME_INTEROCULAR`` px apart, their midpoint at
    ``FRAME_EYE_MIDPOINT``.
    """
    left, right = eye_centres(np.asarray(landmarks, dtype=np.float64))
    d = right - left
    scale = FRAME_INTEROCULAR / max(float(np.linalg.norm(d)), 1e-6)
    theta = math.atan2(d[1], d[0])
    a, b = scale * math.cos(theta), scale * math.sin(theta)
    mid = (left + right) / 2.0
    tx = FRAME_EYE_MIDPOINT[0] - (a * mid[0] + b * mid[1])
    ty = FRAME_EYE_MIDPOINT[1] - (-b * mid[0] + a * mid[1])
    return np.array([[a, b, tx], [-b, a, ty]], dtype=np.float64)


def warp_to_frame(rgb: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(FRAME_SIZE, FRAME_SIZE, 3) uint8: ``rgb`` resampled through a (2, 3) transform.

    Only the part of the source that the frame sees is used; when it shrinks by more than
    ~4/3 that part is first reduced with area averaging, so fine texture does not alias.
    """
    height, width = rgb.shape[:2]
    inverse = cv2.invertAffineTransform(transform)
    corners = np.array([[0, 0], [FRAME_SIZE, 0], [FRAME_SIZE, FRAME_SIZE], [0, FRAME_SIZE]])
    src = _apply(inverse, corners.astype(np.float64))
    x0 = int(np.clip(np.floor(src[:, 0].min()) - 2, 0, width - 1))
    y0 = int(np.clip(np.floor(src[:, 1].min()) - 2, 0, height - 1))
    x1 = int(np.clip(np.ceil(src[:, 0].max()) + 3, x0 + 1, width))
    y1 = int(np.clip(np.ceil(src[:, 1].max()) + 3, y0 + 1, height))
    crop = rgb[y0:y1, x0:x1]
    # crop pixel = source pixel - (x0, y0)
    m = transform @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    scale = math.hypot(transform[0, 0], transform[0, 1])
    if scale < 0.75:
        r = scale / 0.75
        w = max(1, round(crop.shape[1] * r))
        h = max(1, round(crop.shape[0] * r))
        sx, sy = w / crop.shape[1], h / crop.shape[0]
        crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
        # resize maps pixel centres: x' = (x + 0.5) * sx - 0.5
        to_small = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])
        m = m @ np.linalg.inv(to_small)
    return cv2.warpAffine(
        np.ascontiguousarray(crop),
        m[:2],
        (FRAME_SIZE, FRAME_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points through a (2, 3) affine transform."""
    return points @ transform[:, :2].T + transform[:, 2]
