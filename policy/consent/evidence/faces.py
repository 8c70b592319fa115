"""The faces in a consent clip, measured once and shared by the face, liveness and prompt checks.

    frames -> landmarks on every frame (``model.evaluation.tracking``: detect, then follow)
           -> per frame: mouth aperture and head yaw (``model.face.measure``)
           -> every ~1 s: a fresh detection on a reduced copy, counting faces
           -> on ``DESCRIPTOR_FRAMES`` frames spread over the clip, facing the camera: the dlib
              128-D identity descriptor (the costly part: ~0.15 s each)

The descriptors' element-wise median is the captured face (``reference``), compared with the
partner's portraits and kept by the service as the subject's reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.evaluation.tracking import track_faces
from model.face.dlib_models import face_detector
from model.face.identity import DESCRIPTOR_DIM, face_descriptor
from policy.consent.evidence.types import EvidenceClip

DESCRIPTOR_FRAMES = 6
DETECT_EVERY_SECONDS = 1.0
DETECT_LONG_SIDE = 480  # detection copy; a capture's face is large, 80 px suffice for HOG
FACE_MIN_SCORE = 0.3  # HOG score of a confident face (real faces ~1-2)
RIVAL_AREA = 0.25  # a second face at least this share of the largest face's area counts
FRONTAL_YAW = 0.35  # radians: descriptors are taken from frames facing the camera


@dataclass(frozen=True)
class FaceScan:
    """Measurements of one clip (T frames, D detection samples, K descriptors).

    found: (T,) bool, a face was tracked. aperture: (T,) inner-lip gap / inter-ocular
    distance, NaN without a face. yaw: (T,) radians (+ towards the image's right), NaN without a
    face. detection_times: (D,) s; face_counts: (D,) confident faces found there.
    descriptor_times: (K,) s; descriptors: (K, 128) float32.
    """

    timestamps: np.ndarray
    found: np.ndarray
    aperture: np.ndarray
    yaw: np.ndarray
    detection_times: np.ndarray
    face_counts: np.ndarray
    descriptor_times: np.ndarray
    descriptors: np.ndarray

    @property
    def reference(self) -> np.ndarray | None:
        """(128,) float32 median descriptor, None without any."""
        if len(self.descriptors) == 0:
            return None
        return np.median(self.descriptors, axis=0).astype(np.float32)


def scan_faces(clip: EvidenceClip) -> FaceScan:
    track = track_faces(clip.frames, pupils=False)
    found = track.found.copy()
    aperture = track.series("aperture")
    yaw = np.array([np.nan if m is None else float(m.pose[0]) for m in track.measurements])
    det_idx = _every(clip.timestamps, DETECT_EVERY_SECONDS)
    counts = np.array([count_faces(clip.frames[i]) for i in det_idx], np.int64)
    desc_idx = _descriptor_frames(found, yaw)
    descriptors = [face_descriptor(np.ascontiguousarray(clip.frames[i]), track.landmarks[i])
                   for i in desc_idx]
    return FaceScan(
        timestamps=clip.timestamps, found=found, aperture=aperture, yaw=yaw,
        detection_times=clip.timestamps[det_idx], face_counts=counts,
        descriptor_times=clip.timestamps[desc_idx],
        descriptors=(np.stack(descriptors).astype(np.float32) if descriptors
                     else np.zeros((0, DESCRIPTOR_DIM), np.float32)))


def count_faces(frame: np.ndarray) -> int:
    """Confident faces in one frame: the largest, and any other at least ``RIVAL_AREA`` of it."""
    h, w = frame.shape[:2]
    scale = min(1.0, DETECT_LONG_SIDE / max(h, w))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    rects, scores, _ = face_detector().run(grey, 0, 0.0)
    areas = [r.area() for r, s in zip(rects, scores) if s >= FACE_MIN_SCORE]
    if not areas:
        return 0
    largest = max(areas)
    return sum(1 for a in areas if a >= RIVAL_AREA * largest)


def _every(timestamps: np.ndarray, seconds: float) -> np.ndarray:
    """Frame indices about ``seconds`` apart (the first frame included)."""
    picked, next_time = [], -np.inf
    for i, t in enumerate(timestamps):
        if t >= next_time:
            picked.append(i)
            next_time = t + seconds
    return np.array(picked, np.int64)


def _descriptor_frames(found: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Up to ``DESCRIPTOR_FRAMES`` frames spread evenly over those with a frontal face (any
    face when none is frontal)."""
    usable = np.flatnonzero(found & (np.abs(np.nan_to_num(yaw, nan=9.0)) <= FRONTAL_YAW))
    if len(usable) == 0:
        usable = np.flatnonzero(found)
    if len(usable) <= DESCRIPTOR_FRAMES:
        return usable
    picks = np.linspace(0, len(usable) - 1, DESCRIPTOR_FRAMES).round().astype(np.int64)
    return usable[picks]
