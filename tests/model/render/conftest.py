"""Shared fixtures: the sample portrait and obama2 (photographed mid-word, mouth open, brows low
over shadowed lids) bound to the warp renderer, and dlib re-detection."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from model.face.dlib_models import face_detector, landmark_predictor
from model.face.portrait import analyse_portrait
from model.face.types import Portrait
from model.motion.space import MOTION_DIM, Field
from model.render.warp import BoundWarpRenderer, WarpRenderer

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "assets" / "samples" / "portrait.png"
OBAMA2 = REPO / "tests" / "fixtures" / "faces" / "obama2.jpg"


def motion(**fields: float) -> np.ndarray:
    """(16,) float32 motion with the named fields set (e.g. jaw_open=1)."""
    m = np.zeros(MOTION_DIM, dtype=np.float32)
    for name, value in fields.items():
        m[int(Field[name.upper()])] = value
    return m


def redetect(frame: np.ndarray) -> np.ndarray:
    """(68, 2) dlib landmarks of the largest face in a rendered frame."""
    rects = face_detector()(frame, 0)
    assert len(rects) > 0, "no face re-detected in the rendered frame"
    rect = max(rects, key=lambda r: r.area())
    shape = landmark_predictor()(frame, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


@pytest.fixture(scope="session")
def portrait() -> Portrait:
    rgb = cv2.cvtColor(cv2.imread(str(SAMPLE)), cv2.COLOR_BGR2RGB)
    return analyse_portrait(rgb)


@pytest.fixture(scope="session")
def bound(portrait: Portrait) -> BoundWarpRenderer:
    return WarpRenderer().bind(portrait)


@pytest.fixture(scope="session")
def obama2_portrait() -> Portrait:
    rgb = cv2.cvtColor(cv2.imread(str(OBAMA2)), cv2.COLOR_BGR2RGB)
    return analyse_portrait(rgb)


@pytest.fixture(scope="session")
def obama2_bound(obama2_portrait: Portrait) -> BoundWarpRenderer:
    return WarpRenderer().bind(obama2_portrait)
