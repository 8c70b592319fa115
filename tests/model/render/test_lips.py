from __future__ import annotations

import cv2
import numpy as np

from model.face.measure import measure_face
from model.render.lips import LipMap, find_lip_edges
from model.render.mouth import inner_gap
from model.render.mouth_geometry import MouthFrame
from tests.model.render.conftest import motion, redetect

CLOSED = 0.06  # the evaluation's closed-mouth aperture (inner-lip gap / iod)


def _teeth_share(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """Share of the pixels inside the outer lip contour that look like teeth (bright, not red)."""
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(landmarks[48:60]).astype(np.int32)], 1)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[mask > 0].astype(np.float32)
    return float(np.mean((lab[:, 0] > 140) & (lab[:, 1] - 128 < 12)))


def test_the_portrait_shows_an_open_mouth_with_teeth(obama2_portrait):
    assert inner_gap(obama2_portrait.landmarks) > 0.3 * obama2_portrait.interocular
    assert _teeth_share(obama2_portrait.image, obama2_portrait.landmarks) > 0.05


def test_still_motion_closes_an_open_mouthed_portrait(obama2_bound):
    frame = obama2_bound.render(motion())
    assert measure_face(redetect(frame)).aperture < CLOSED
    target = obama2_bound.target_landmarks(motion())
    assert _teeth_share(frame, target) < 0.01  # lips, not the photo's teeth, fill the mouth


def test_bilabial_press_closes_a_half_open_jaw(obama2_bound):
    assert measure_face(redetect(obama2_bound.render(motion(jaw_open=0.4)))).aperture > 0.15
    pressed = obama2_bound.render(motion(jaw_open=0.4, lip_press=1.0))
    assert measure_face(redetect(pressed)).aperture < CLOSED


def test_lip_edges_are_found_where_dlib_strays_onto_the_teeth(obama2_portrait):
    image, lm = obama2_portrait.image, obama2_portrait.landmarks.astype(np.float64)
    dlib = MouthFrame.of(lm)
    found = find_lip_edges(image, dlib, obama2_portrait.interocular)
    # Right of centre dlib's inner upper lip runs across the upper teeth; the lip ends higher.
    a = np.array([0.5 * dlib.half], np.float32)
    assert found.upper(a)[0] < dlib.upper(a)[0] - 2.0
    redness = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 1].astype(np.float32) - 128.0

    def red_at(offsets: np.ndarray) -> float:
        x, y = found.to_xy(np.full_like(offsets, a[0]), found.upper(a)[0] + offsets)
        return float(np.mean(redness[np.round(y).astype(int), np.round(x).astype(int)]))

    above, below = red_at(np.array([-5.0, -4.0, -3.0])), red_at(np.array([1.0, 2.0, 3.0]))
    assert above > below + 4.0  # lip red above the edge, the teeth's grey-white below it
    # The edges stay inside the lips.
    grid = np.linspace(-0.8, 0.8, 9).astype(np.float32) * dlib.half
    assert np.all(found.upper(grid) > dlib.outer_upper(grid))
    assert np.all(found.lower(grid) < dlib.outer_lower(grid))
    assert np.all(found.upper(grid) <= found.lower(grid))


def test_lip_map_leaves_closed_mouths_to_the_warp(bound):
    closed = redetect(bound.render(motion()))
    assert not LipMap(bound.render(motion()), closed, 100.0).active
