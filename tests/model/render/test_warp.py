from __future__ import annotations

import cv2
import numpy as np
import pytest

from model.face.landmarks import eye_centres
from model.face.measure import measure_face
from model.face.portrait import analyse_portrait
from model.render.base import BoundRenderer, Renderer
from model.render.warp import WarpRenderer
from tests.model.render.conftest import motion, redetect


def _corners(frame: np.ndarray) -> np.ndarray:
    """The four 32x32 frame corners: background far from the head."""
    s = 32
    return np.stack([frame[:s, :s], frame[:s, -s:], frame[-s:, :s], frame[-s:, -s:]]).astype(int)


def test_is_a_pluggable_renderer(bound):
    assert isinstance(WarpRenderer(), Renderer)
    assert isinstance(bound, BoundRenderer)


def _outside_mouth(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The image with the lower face (below the nose, lips and chin, which follow the mouth)
    blacked out."""
    x0 = int(landmarks[:17, 0].min()) - 20
    x1 = int(landmarks[:17, 0].max()) + 20
    y0 = int(landmarks[33, 1]) + 4
    y1 = int(landmarks[8, 1]) + 30
    out = image.copy()
    out[y0:y1, x0:x1] = 0
    return out


def test_still_motion_renders_the_portrait_with_its_lips_together(bound, portrait):
    frame = bound.render(motion())
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    lm = portrait.landmarks
    assert cv2.PSNR(_outside_mouth(frame, lm), _outside_mouth(portrait.image, lm)) > 40.0
    # the sample smiles with parted lips; at rest (jaw_open 0) the lips meet
    assert measure_face(redetect(frame)).aperture < 0.05


def test_tiny_pose_motion_keeps_the_portrait(bound, portrait):
    still = bound.render(motion())
    frame = bound.render(motion(yaw=1e-4, jaw_open=1e-4))
    assert cv2.PSNR(frame, still) > 40.0


def test_a_closed_mouth_portrait_is_returned_untouched_by_still_motion(bound):
    closed = analyse_portrait(bound.render(motion()))
    again = WarpRenderer().bind(closed)
    assert cv2.PSNR(again.render(motion()), closed.image) > 40.0


def test_rendering_is_deterministic_and_stateless(bound):
    a = motion(yaw=0.2, jaw_open=0.7, blink_left=0.5, gaze_x=0.5)
    first = bound.render(a)
    bound.render(motion(roll=-0.3, lip_press=1.0, gaze_y=-1.0, blink_right=1.0))
    assert np.array_equal(bound.render(a), first)


@pytest.mark.parametrize(
    "fields", [dict(tx=0.4, yaw=0.3), dict(roll=0.3, scale=0.2), dict(jaw_open=1.0, lip_corner=1.0)]
)
def test_background_far_from_the_head_stays_still(bound, portrait, fields):
    frame = bound.render(motion(**fields))
    assert np.abs(_corners(frame) - _corners(portrait.image)).max() <= 1


def test_head_moves_in_the_documented_directions(bound, portrait):
    base = measure_face(redetect(portrait.image))
    yaw = measure_face(redetect(bound.render(motion(yaw=0.3))))
    assert yaw.pose[0] - base.pose[0] > 0.12  # + turns the face towards the image's right
    rolled = redetect(bound.render(motion(roll=0.2)))
    left, right = eye_centres(rolled)
    assert np.arctan2(right[1] - left[1], right[0] - left[0]) > 0.12  # clockwise on screen
    scaled = measure_face(redetect(bound.render(motion(scale=0.2))))
    assert scaled.interocular / base.interocular == pytest.approx(np.exp(0.2), rel=0.06)
    moved = redetect(bound.render(motion(tx=0.3, ty=-0.2)))
    shift = moved.mean(axis=0) - redetect(portrait.image).mean(axis=0)
    assert shift / base.interocular == pytest.approx([0.3, -0.2], abs=0.06)


def test_rendered_landmarks_follow_the_basis(bound):
    m = motion(yaw=0.15, jaw_open=0.5, tx=0.1)
    found = redetect(bound.render(m))
    target = bound.target_landmarks(m)
    # jaw outline excepted: dlib guesses it from the cheeks
    err = np.linalg.norm(found[17:] - target[17:], axis=1)
    assert np.median(err) < 4.0
