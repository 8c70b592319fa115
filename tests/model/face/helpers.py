"""Paths and a reader for the face test photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[3]
FACES = REPO / "tests" / "fixtures" / "faces"
SAMPLE_PORTRAIT = REPO / "assets" / "samples" / "portrait.png"


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (tests only; the service uses load_image)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def source_landmarks(portrait) -> np.ndarray:
    """A Portrait's landmarks mapped back into its source image's pixels."""
    inverse = cv2.invertAffineTransform(portrait.transform)
    return portrait.landmarks @ inverse[:, :2].T + inverse[:, 2]
