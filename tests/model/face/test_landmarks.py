from __future__ import annotations

import math

import numpy as np
import pytest

from model.face import landmarks as lm
from model.face.types import Portrait

IMAGE = (480, 640)  # (height, width)


def _pose(yaw: float, pitch: float, roll: float, centre=(320.0, 240.0), iod=60.0) -> np.ndarray:
    return lm.project_template(yaw, pitch, roll, IMAGE, centre, iod)


def test_regions_cover_the_68_points_once() -> None:
    covered = np.concatenate([lm.region_indices(r) for r in lm.REGIONS.values()])
    assert sorted(covered.tolist()) == list(range(68))
    assert (lm.RIGHT_EYE.start, lm.RIGHT_EYE.stop) == (36, 42)
    assert (lm.LEFT_EYE.start, lm.LEFT_EYE.stop) == (42, 48)
    assert (lm.MOUTH_OUTER.start, lm.MOUTH_INNER.stop) == (48, 68)


def test_template_is_symmetric_in_interocular_units() -> None:
    t = lm.FACE_TEMPLATE_3D
    assert t.shape == (68, 3) and t.dtype == np.float32 and np.all(np.isfinite(t))
    mirrored = t[lm.MIRROR_INDEX] * np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    np.testing.assert_allclose(mirrored, t, atol=1e-6)
    left, right = lm.eye_centres(t[:, :2])
    assert left[0] < 0 < right[0]  # the subject's right eye is on the image's left
    assert math.isclose(float(np.linalg.norm(right - left)), 1.0, abs_tol=0.02)
    assert t[30, 2] < t[36, 2]  # nose tip nearer the viewer than the eye corners


def test_frontal_face_reads_zero_anywhere_in_the_image() -> None:
    for centre in [(320.0, 240.0), (60.0, 50.0), (600.0, 430.0)]:
        pose = lm.estimate_head_pose(_pose(0.0, 0.0, 0.0, centre), IMAGE)
        assert pose.dtype == np.float32 and pose.shape == (3,)
        np.testing.assert_allclose(pose, 0.0, atol=1e-3)


@pytest.mark.parametrize(
    "angles",
    [
        (0.3, 0, 0),
        (-0.3, 0, 0),
        (0, 0.3, 0),
        (0, -0.3, 0),
        (0, 0, 0.3),
        (0.4, -0.2, 0.25),
        (-0.6, 0.4, -0.5),
    ],
)
def test_posed_template_round_trips(angles: tuple[float, float, float]) -> None:
    est = lm.estimate_head_pose(_pose(*angles), IMAGE)
    np.testing.assert_allclose(est, angles, atol=5e-3)


def test_signs_match_the_motion_space() -> None:
    def nose_minus_eyes(p: np.ndarray) -> np.ndarray:
        return p[30] - p[36:48].mean(axis=0)

    front = nose_minus_eyes(_pose(0, 0, 0))
    # + yaw: the face turns towards the image's right, so the nose tip moves right
    assert nose_minus_eyes(_pose(0.3, 0, 0))[0] > front[0] + 5
    # + pitch: chin down, so the nose tip drops further below the eyes
    assert nose_minus_eyes(_pose(0, 0.3, 0))[1] > front[1] + 3
    # + roll: clockwise on screen, so the image-right eye sits lower than the image-left eye
    left, right = lm.eye_centres(_pose(0, 0, 0.3))
    assert right[1] > left[1] + 10


def test_real_frontal_photo_reads_near_zero(obama_portrait: Portrait) -> None:
    assert np.all(np.abs(np.degrees(obama_portrait.pose)) < 5.0)


def test_turned_photo_and_its_mirror(obama2_portrait: Portrait) -> None:
    # obama2.jpg: head turned towards the image's left
    pts = obama2_portrait.landmarks
    pose = lm.estimate_head_pose(pts, (512, 512))
    assert math.degrees(pose[0]) < -10
    mirrored = pts[lm.MIRROR_INDEX] * np.array([-1.0, 1.0]) + np.array([511.0, 0.0])
    flipped = lm.estimate_head_pose(mirrored, (512, 512))
    np.testing.assert_allclose(flipped * np.array([-1, 1, -1]), pose, atol=1e-3)


def test_rejects_bad_landmarks() -> None:
    with pytest.raises(ValueError):
        lm.estimate_head_pose(np.zeros((5, 2)), IMAGE)
    bad = _pose(0, 0, 0).copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError):
        lm.estimate_head_pose(bad, IMAGE)
