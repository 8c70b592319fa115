"""Loads dlib's detector and the models shipped in the ``face-recognition-models`` wheel.

The model files are located with importlib instead of importing ``face_recognition_models``,
whose ``__init__`` imports the deprecated ``pkg_resources``. Each loader is cached: a dlib model
is loaded once per process (the 68-point predictor alone is ~100 MB).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import dlib

from model.errors import WeightsError


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the face-recognition-models package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _model_file(name: str) -> str:
    path = _models_dir() / name
    if not path.is_file():
        raise WeightsError(f"dlib model file missing: {path}", path=str(path))
    return str(path)


@lru_cache(maxsize=1)
def face_detector() -> "dlib.fhog_object_detector":
    """dlib's HOG frontal face detector (no file needed)."""
    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def landmark_predictor() -> "dlib.shape_predictor":
    """dlib's 68-point landmark predictor (iBUG 300-W layout)."""
    return dlib.shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat"))


@lru_cache(maxsize=1)
def face_encoder() -> "dlib.face_recognition_model_v1":
    """dlib's ResNet producing 128-D identity descriptors (same person: distance < 0.6)."""
    return dlib.face_recognition_model_v1(_model_file("dlib_face_recognition_resnet_model_v1.dat"))
