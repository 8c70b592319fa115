"""Typed results of portrait analysis, shared by the renderer, the pipeline and evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_SIZE = 512  # every generated frame is FRAME_SIZE x FRAME_SIZE RGB


@dataclass(frozen=True)
class Portrait:
    """A portrait aligned to the output frame.

    image: (FRAME_SIZE, FRAME_SIZE, 3) uint8 RGB, the portrait cropped/aligned with margin for
        hair and shoulders (eyes level, face centred slightly above the middle).
    landmarks: (68, 2) float32 dlib 68-point landmarks in ``image`` pixel coordinates.
    transform: (2, 3) float64 affine mapping source-image pixels to ``image`` pixels.
    face_box: (x0, y0, x1, y1) of the detected face in ``image`` pixels.
    pose: (3,) float32 estimated yaw, pitch, roll of the head in the photo, radians
        (same sign conventions as ``model.motion.space``).
    source_size: (height, width) of the original image.
    """

    image: np.ndarray
    landmarks: np.ndarray
    transform: np.ndarray
    face_box: tuple[int, int, int, int]
    pose: np.ndarray
    source_size: tuple[int, int]

    @property
    def interocular(self) -> float:
        """Distance between the eye centres in pixels (the motion space's face unit)."""
        left = self.landmarks[36:42].mean(axis=0)
        right = self.landmarks[42:48].mean(axis=0)
        return float(np.linalg.norm(right - left))
