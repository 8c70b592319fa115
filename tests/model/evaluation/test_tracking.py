"""Landmark tracking through short sequences of shifted fixture frames."""

from __future__ import annotations

import numpy as np
import pytest

from model.evaluation.tracking import track_faces
from tests.model.evaluation.face_frames import face_frame

SHIFTS = [(4.0 * np.sin(i / 3), 3.0 * np.cos(i / 4) - 3.0) for i in range(12)]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [face_frame("obama", dx, dy) for dx, dy in SHIFTS]


def test_tracking_follows_the_face_with_one_detection(frames) -> None:
    track = track_faces(iter(frames))  # any iterable: frames are consumed one by one
    assert len(track) == len(frames) and track.found.all()
    assert track.detections == 1
    assert track.image_size == (512, 512)
    moved = track.landmarks.mean(axis=1) - track.landmarks[0].mean(axis=0)
    expected = np.array(SHIFTS) - SHIFTS[0]
    assert np.abs(moved - expected).max() < 1.5  # px, on a face ~170 px wide
    iod = track.series("interocular")
    assert np.all(np.abs(iod / iod[0] - 1) < 0.03)
    assert track.poses().shape == (12, 3) and np.all(np.abs(track.poses()) < 0.2)
    assert np.isfinite(track.gaze()).all()


def test_tracking_reports_frames_without_a_face_and_recovers(frames) -> None:
    blank = np.full_like(frames[0], 128)
    sequence = frames[:4] + [blank, blank] + frames[4:8]
    track = track_faces(sequence, pupils=False)
    assert track.found.tolist() == [True] * 4 + [False] * 2 + [True] * 4
    assert track.measurements[4] is None and np.isnan(track.landmarks[4]).all()
    assert np.isnan(track.series("aperture")[4]) and np.isnan(track.poses()[5]).all()
    assert track.measurements[0].pupils is None
    recovered = track.landmarks[6].mean(axis=0) - track.landmarks[0].mean(axis=0)
    assert recovered == pytest.approx(np.array(SHIFTS[4]) - SHIFTS[0], abs=1.5)


def test_tracking_redetects_after_a_jump(frames) -> None:
    jumped = face_frame("obama", 90.0, 40.0)
    track = track_faces([frames[0], frames[1], jumped])
    assert track.found.all() and track.detections == 2
    moved = track.landmarks[2].mean(axis=0) - track.landmarks[0].mean(axis=0)
    assert moved == pytest.approx((90.0, 40.0), abs=2.0)


def test_empty_input_gives_an_empty_track() -> None:
    track = track_faces([])
    assert len(track) == 0 and track.landmarks.shape == (0, 68, 2)
