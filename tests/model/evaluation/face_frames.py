"""512² test frames made from the fixture photographs (shared by the face, evaluation and
video-corpus tests)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

FACES = Path(__file__).resolve().parents[2] / "fixtures" / "faces"

# (centre x, centre y, crop side) of a square around each face in its photograph, in pixels.
_CROPS = {
    "obama": (205.0, 110.0, 300.0),
    "obama2": (121.0, 165.0, 280.0),
    "biden": (125.0, 88.0, 200.0),
}


@lru_cache(maxsize=8)
def fixture_image(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB fixture photograph, read-only."""
    image = np.asarray(Image.open(FACES / f"{name}.jpg").convert("RGB"))
    image.setflags(write=False)
    return image


def face_frame(
    name: str = "obama", dx: float = 0.0, dy: float = 0.0, size: int = 512
) -> np.ndarray:
    """(size, size, 3) uint8 frame: the face of a fixture, centred and enlarged, then shifted
    by (dx, dy) output pixels (+ right / down). Borders are mirrored."""
    cx, cy, side = _CROPS[name]
    k = size / side
    m = np.array([[k, 0.0, size / 2 - cx * k + dx], [0.0, k, size / 2 - cy * k + dy]])
    return cv2.warpAffine(fixture_image(name), m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def detect_landmarks(image: np.ndarray, upsample: int = 1) -> np.ndarray:
    """(68, 2) float64 dlib landmarks of the largest face in an RGB image (tests only)."""
    from model.face.dlib_models import face_detector, landmark_predictor

    rects = face_detector()(image, upsample)
    assert len(rects) > 0, "no face in the test image"
    box = max(rects, key=lambda r: r.area())
    shape = landmark_predictor()(image, box)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
