from __future__ import annotations

import numpy as np
import pytest

from model.face.landmarks import FACE_TEMPLATE_3D, MIRROR_INDEX
from model.motion.basis import FaceFrame, expression_offsets, target_landmarks
from model.motion.space import MOTION_DIM, Field

IOD = 96.0


def _face(open_gap: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """(68, 2) px template face (eye midpoint at (256, 215)), inner lips apart by open_gap iod."""
    pts = FACE_TEMPLATE_3D[:, :2].astype(np.float64).copy()
    pts[[65, 66, 67], 1] += open_gap
    c, s = np.cos(roll), np.sin(roll)
    pts = pts @ np.array([[c, s], [-s, c]])
    return pts * IOD + (256.0, 215.0)


def _m(**fields: float) -> np.ndarray:
    m = np.zeros(MOTION_DIM, dtype=np.float32)
    for k, v in fields.items():
        m[int(Field[k.upper()])] = v
    return m


def _gap(lm: np.ndarray) -> float:
    return float(np.mean(lm[[65, 66, 67], 1] - lm[[63, 62, 61], 1])) / IOD


def test_zero_motion_is_identity_and_shapes():
    src = _face()
    assert np.allclose(target_landmarks(src, _m()), src, atol=1e-3)
    batch = target_landmarks(src, np.zeros((5, MOTION_DIM)))
    assert batch.shape == (5, 68, 2) and batch.dtype == np.float32
    with pytest.raises(ValueError):
        target_landmarks(src, np.zeros(3))


def test_batch_equals_frame_by_frame():
    rng = np.random.default_rng(0)
    motions = rng.uniform(-0.3, 0.3, (4, MOTION_DIM)).astype(np.float32)
    batch = target_landmarks(_face(0.1), motions)
    single = np.stack([target_landmarks(_face(0.1), m) for m in motions])
    assert np.allclose(batch, single, atol=1e-4)


def test_jaw_open_gap_matches_the_motion_space():
    assert _gap(target_landmarks(_face(), _m(jaw_open=1.0))) == pytest.approx(0.6, abs=0.02)
    chin = target_landmarks(_face(), _m(jaw_open=1.0))[8] - _face()[8]
    assert chin[1] > 0.4 * IOD


def test_lip_press_closes_any_gap():
    for src in (_face(0.15), _face()):
        assert _gap(target_landmarks(src, _m(lip_press=1.0))) == pytest.approx(0.0, abs=1e-3)
    assert _gap(target_landmarks(_face(), _m(jaw_open=0.3, lip_press=1.0))) == pytest.approx(
        0.0, abs=1e-3
    )
    half = _gap(target_landmarks(_face(0.2), _m(jaw_open=0.5, lip_press=0.5)))
    assert half == pytest.approx(0.15, abs=0.02)


def test_mouth_opening_is_absolute_whatever_the_photo_shows():
    for src in (_face(0.2), _face()):
        assert _gap(target_landmarks(src, _m())) == pytest.approx(0.0, abs=1e-3)
        assert _gap(target_landmarks(src, _m(jaw_open=0.5))) == pytest.approx(0.3, abs=0.03)


def test_blinks_move_upper_lids_onto_lower_lids():
    src = _face()
    shut = target_landmarks(src, _m(blink_left=1.0))
    assert np.allclose(shut[[43, 44], 1], src[[47, 46], 1], atol=0.05)
    assert np.allclose(shut[36:42], src[36:42], atol=1e-3)  # the other eye is untouched
    right = target_landmarks(src, _m(blink_right=1.0))
    assert np.allclose(right[[37, 38], 1], src[[41, 40], 1], atol=0.05)


def test_expression_offsets_are_mirror_symmetric():
    face = FaceFrame.from_landmarks(_face()).to_face(_face())
    off = expression_offsets(
        face, _m(jaw_open=0.7, lip_width=0.5, lip_round=0.3, lip_corner=0.6, brow_raise=0.5)
    )[0]
    assert np.allclose(off[MIRROR_INDEX] * (-1.0, 1.0), off, atol=1e-9)


def test_smile_raises_corners_and_brow_raise_lifts_brows():
    src = _face()
    smile = target_landmarks(src, _m(lip_corner=1.0)) - src
    assert smile[48, 1] < -0.05 * IOD and smile[54, 1] < -0.05 * IOD
    brows = target_landmarks(src, _m(brow_raise=1.0)) - src
    assert np.all(brows[17:27, 1] < -0.07 * IOD)
    wide = target_landmarks(src, _m(lip_width=1.0))
    assert wide[54, 0] - wide[48, 0] > src[54, 0] - src[48, 0] + 0.15 * IOD


def test_gaze_is_not_a_landmark_motion():
    assert np.allclose(target_landmarks(_face(), _m(gaze_x=1.0, gaze_y=-1.0)), _face(), atol=1e-3)


def test_pose_directions():
    src = _face()
    yaw = target_landmarks(src, _m(yaw=0.3)) - src
    assert yaw[30, 0] > 0.3 * IOD  # nose swings towards the image's right ...
    assert yaw[30, 0] > yaw[0, 0] + 0.2 * IOD  # ... more than the ear-level jaw
    pitch = target_landmarks(src, _m(pitch=0.3)) - src
    assert pitch[30, 1] > 0.3 * IOD and pitch[8, 1] > 0.0  # chin down
    rolled = target_landmarks(src, _m(roll=0.2))
    d = rolled[45] - rolled[36]
    assert np.arctan2(d[1], d[0]) == pytest.approx(0.2, abs=0.02)  # clockwise on screen
    scaled = target_landmarks(src, _m(scale=0.3))
    assert np.linalg.norm(scaled[45] - scaled[36]) / np.linalg.norm(
        src[45] - src[36]
    ) == pytest.approx(np.exp(0.3))
    assert np.allclose(scaled.mean(0), src.mean(0), atol=1e-3)
    moved = target_landmarks(src, _m(tx=0.5, ty=-0.25)) - src
    unit = FaceFrame.from_landmarks(src).unit  # the template's eyes are ~1 iod apart
    assert np.allclose(moved, (0.5 * unit, -0.25 * unit), atol=1e-3)


def test_offsets_follow_a_tilted_face():
    """Offsets live in the face frame: on a tilted portrait the jaw opens along the face's axis."""
    roll = 0.3
    src = _face(roll=roll)
    d = target_landmarks(src, _m(jaw_open=1.0))[66] - src[66]
    assert np.arctan2(d[0], d[1]) == pytest.approx(-roll, abs=0.02)
