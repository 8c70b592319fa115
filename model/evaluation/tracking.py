"""Landmark tracking through a frame sequence: detect once, then follow the face cheaply.

dlib's HOG detector costs ~25 ms on a 512² frame, the 68-point predictor ~3 ms. So the detector
runs on the first frame, every ``redetect_every`` frames (to catch a drift), whenever the face
box jumps, and whenever the face region's pixels change abruptly (a cut, a blank frame: the
predictor would happily place a face on anything); in between, each frame's box comes from the
previous frame's landmarks. The predictor was trained on detector boxes, so the box is rebuilt
from the landmarks with the detector-box-to-landmark relation measured at the last detection,
not from their bare extent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import cv2
import dlib
import numpy as np

from model.face.dlib_models import face_detector, landmark_predictor
from model.face.landmarks import N_LANDMARKS
from model.face.measure import FaceMeasurements, measure_face


@dataclass
class FaceTrack:
    """Per-frame tracking result for T frames.

    landmarks: (T, 68, 2) float32 pixel landmarks, NaN where no face was found.
    measurements: T entries, None where no face was found.
    detections: number of times the detector ran.
    """

    landmarks: np.ndarray
    measurements: list[FaceMeasurements | None]
    detections: int = 0
    image_size: tuple[int, int] = (0, 0)
    found: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.found = np.array([m is not None for m in self.measurements], dtype=bool)

    def __len__(self) -> int:
        return len(self.measurements)

    def series(self, name: str) -> np.ndarray:
        """(T,) float64 values of a scalar ``FaceMeasurements`` field, NaN where no face."""
        return np.array(
            [np.nan if m is None else float(getattr(m, name)) for m in self.measurements]
        )

    def poses(self) -> np.ndarray:
        """(T, 3) yaw, pitch, roll in radians, NaN where no face."""
        return np.array([np.full(3, np.nan) if m is None else m.pose for m in self.measurements])

    def gaze(self) -> np.ndarray:
        """(T, 2) mean pupil offset of both eyes, NaN where no face or both eyes closed."""
        out = np.full((len(self), 2), np.nan)
        for i, m in enumerate(self.measurements):
            off = None if m is None or m.pupils is None else m.pupils.offset
            if off is not None:
                out[i] = off
        return out


class _Tracker:
    """Keeps the detector-box relation and the last landmarks between frames."""

    def __init__(
        self, upsample: int, redetect_every: int, max_jump: float, max_change: float
    ) -> None:
        self.detector = face_detector()
        self.predictor = landmark_predictor()
        self.upsample = upsample
        self.redetect_every = redetect_every
        self.max_jump = max_jump
        self.max_change = max_change
        self.thumb: np.ndarray | None = None  # small grey copy of the last face box
        # Box centre offset (x, y) and side, in units of the landmarks' extent; replaced by the
        # measured relation at each detection.
        self.relation = np.array([0.0, 0.1, 1.1])
        self.previous: np.ndarray | None = None  # last landmarks
        self.since_detect = 0
        self.detections = 0

    def _predict(self, image: np.ndarray, box: dlib.rectangle) -> np.ndarray:
        shape = self.predictor(image, box)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    @staticmethod
    def _frame_of(lm: np.ndarray) -> tuple[np.ndarray, float]:
        """Landmark centre and size (the mean of their extent), the box relation's reference."""
        lo, hi = lm.min(axis=0), lm.max(axis=0)
        return (lo + hi) / 2.0, float((hi - lo).mean())

    def _detect(self, image: np.ndarray) -> np.ndarray | None:
        self.detections += 1
        self.since_detect = 0
        rects = self.detector(image, self.upsample)
        if len(rects) == 0:
            return None
        box = max(rects, key=lambda r: r.area())
        lm = self._predict(image, box)
        centre, size = self._frame_of(lm)
        bc = np.array([(box.left() + box.right()) / 2.0, (box.top() + box.bottom()) / 2.0])
        self.relation = np.array([*(bc - centre) / size, box.width() / size])
        self.previous = lm
        self.thumb = self._thumbnail(image, self._box_from(lm))
        return lm

    @staticmethod
    def _thumbnail(image: np.ndarray, box: dlib.rectangle) -> np.ndarray | None:
        """(16, 16) float32 grey thumbnail of the box's pixels (clipped to the image)."""
        h, w = image.shape[:2]
        x0, y0 = max(box.left(), 0), max(box.top(), 0)
        x1, y1 = min(box.right(), w), min(box.bottom(), h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = image[y0:y1, x0:x1]
        crop = crop.mean(axis=2) if crop.ndim == 3 else crop
        return cv2.resize(crop.astype(np.float32), (16, 16), interpolation=cv2.INTER_AREA)

    def _box_from(self, lm: np.ndarray) -> dlib.rectangle:
        centre, size = self._frame_of(lm)
        c = centre + self.relation[:2] * size
        half = self.relation[2] * size / 2.0
        return dlib.rectangle(
            int(round(c[0] - half)), int(round(c[1] - half)),
            int(round(c[0] + half)), int(round(c[1] + half)),
        )  # fmt: skip

    def step(self, image: np.ndarray) -> np.ndarray | None:
        """Landmarks (68, 2) of the face in this frame, or None."""
        self.since_detect += 1
        if self.previous is None:
            return self._lost(image)
        if self.since_detect >= self.redetect_every:
            # A routine check: if the detector misses (a turned head), keep tracking.
            lm = self._detect(image)
            if lm is not None:
                return lm
        box = self._box_from(self.previous)
        thumb = self._thumbnail(image, box)
        changed = self.thumb is None or thumb is None
        if changed or np.abs(thumb - self.thumb).mean() > self.max_change:
            return self._lost(image)
        lm = self._predict(image, box)
        (c0, s0), (c1, s1) = self._frame_of(self.previous), self._frame_of(lm)
        rescaled = abs(np.log(s1 / max(s0, 1e-6))) > 0.25
        if rescaled or np.linalg.norm(c1 - c0) > self.max_jump * s0:
            return self._lost(image)
        self.previous, self.thumb = lm, thumb
        return lm

    def _lost(self, image: np.ndarray) -> np.ndarray | None:
        """Tracking cannot be trusted: the detector decides, and a miss means no face."""
        lm = self._detect(image)
        if lm is None:
            self.previous = None
        return lm


def track_faces(
    frames: Iterable[np.ndarray],
    pupils: bool = True,
    upsample: int = 0,
    redetect_every: int = 25,
    max_jump: float = 0.3,
    max_change: float = 20.0,
) -> FaceTrack:
    """Track the (largest) face through (H, W, 3) uint8 RGB frames, e.g. 512² generated ones.

    Frames are consumed one by one, so a long decoded video need not sit in memory. pupils:
    also search the pupils (``find_pupils``, ~0.4 ms a frame). upsample: the detector's
    upsampling (0 finds faces above ~80 px; use 1 for smaller faces). max_jump: a landmark
    centre moving more than this share of the face size between frames triggers a detection, and
    so does a mean grey-level change above ``max_change`` (0..255) in the face box.
    """
    tracker = _Tracker(upsample, redetect_every, max_jump, max_change)
    all_lm: list[np.ndarray] = []
    measured: list[FaceMeasurements | None] = []
    size = (0, 0)
    for image in frames:
        image = np.ascontiguousarray(image)
        size = (int(image.shape[0]), int(image.shape[1]))
        lm = tracker.step(image)
        if lm is None:
            all_lm.append(np.full((N_LANDMARKS, 2), np.nan, np.float32))
            measured.append(None)
            continue
        all_lm.append(lm)
        measured.append(measure_face(lm, image if pupils else None, image_size=size))
    landmarks = np.stack(all_lm) if all_lm else np.zeros((0, N_LANDMARKS, 2), np.float32)
    return FaceTrack(landmarks, measured, tracker.detections, size)
