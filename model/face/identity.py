"""Identity descriptors: dlib's 128-D face embedding, for checking that a rendered face is still
the subject (same person: distance < ``SAME_PERSON_DISTANCE``)."""

from __future__ import annotations

import dlib
import numpy as np

from model.errors import ImageUnreadable
from model.face.dlib_models import face_encoder
from model.face.landmarks import N_LANDMARKS

DESCRIPTOR_DIM = 128
SAME_PERSON_DISTANCE = 0.6  # dlib's own threshold (99.38 % on LFW)


def face_descriptor(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(128,) float32 identity descriptor of the face whose (68, 2) landmarks are given.

    image: (H, W, 3) uint8 RGB, landmarks in its pixel coordinates. The face is not detected
    again: dlib aligns its 150 x 150 chip from these landmarks, so a ``Portrait``'s own image and
    landmarks can be passed directly. Deterministic (no jitter).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise ImageUnreadable(
            "face_descriptor needs an (H, W, 3) uint8 RGB image",
            reason="bad_shape",
            shape=tuple(getattr(image, "shape", ())),
        )
    if image.shape[2] != 3:
        raise ImageUnreadable(
            f"face_descriptor needs 3 channels, got {image.shape[2]}",
            reason="bad_shape",
            shape=tuple(image.shape),
        )
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2) or not np.all(np.isfinite(pts)):
        raise ValueError(f"landmarks must be finite ({N_LANDMARKS}, 2), got {pts.shape}")
    lo = np.floor(pts.min(axis=0)).astype(int)
    hi = np.ceil(pts.max(axis=0)).astype(int)
    rect = dlib.rectangle(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    parts = dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in pts])
    shape = dlib.full_object_detection(rect, parts)
    vec = face_encoder().compute_face_descriptor(np.ascontiguousarray(image), shape, 0)
    return np.asarray(vec, dtype=np.float32)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two (128,) descriptors (0 = identical)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != (DESCRIPTOR_DIM,) or b.shape != (DESCRIPTOR_DIM,):
        raise ValueError(f"descriptors must be ({DESCRIPTOR_DIM},), got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b))
