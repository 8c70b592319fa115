"""Face measurements from landmarks, and the pupil finder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model.face.measure import CLOSED_EYE_EAR, eye_aspect_ratio, find_pupils, measure_face
from tests.model.evaluation.face_frames import detect_landmarks, face_frame, fixture_image


@pytest.fixture(scope="module")
def faces() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (512² frame, its dlib landmarks)."""
    out = {}
    for name in ("obama", "obama2", "biden"):
        frame = face_frame(name)
        out[name] = (frame, detect_landmarks(frame, upsample=0))
    return out


@pytest.mark.parametrize("name", ["obama", "obama2", "biden"])
def test_fixture_faces_measure_in_sane_ranges(faces, name: str) -> None:
    frame, lm = faces[name]
    m = measure_face(lm, frame)
    assert 40 < m.interocular < 200
    assert 0.0 <= m.aperture < 0.6
    assert 0.7 < m.mouth_width < 1.4
    assert 0.15 < m.ear_left < 0.5 and 0.15 < m.ear_right < 0.5
    assert 0.1 < m.brow_height < 0.5
    assert np.all(np.abs(m.pose) < 0.6)
    assert np.all((m.centre > 100) & (m.centre < 412))
    assert m.pupils is not None and m.pupils.left is not None and m.pupils.right is not None


def test_expressions_read_in_the_right_direction(faces) -> None:
    smiling = measure_face(faces["obama"][1])  # broad smile, teeth showing
    neutral = measure_face(faces["biden"][1])  # closed, straight mouth
    speaking = measure_face(faces["obama2"][1], faces["obama2"][0])  # mouth open mid-word
    assert smiling.lip_corner > neutral.lip_corner + 0.08
    assert smiling.mouth_width > neutral.mouth_width + 0.15
    assert neutral.aperture < 0.05 < speaking.aperture
    # obama2 looks towards the image's left, with his head turned the same way
    assert speaking.pose[0] < -0.2
    assert speaking.pupils is not None and speaking.pupils.offset[0] < -0.15


def test_inner_lips_pulled_apart_read_a_bigger_aperture(faces) -> None:
    lm = faces["biden"][1].copy()
    before = measure_face(lm)
    lm[[61, 62, 63], 1] -= 0.1 * before.interocular
    lm[[65, 66, 67], 1] += 0.1 * before.interocular
    after = measure_face(lm)
    assert after.aperture == pytest.approx(before.aperture + 0.2, abs=0.03)


def test_measurements_ignore_head_roll_and_size(faces) -> None:
    lm = faces["obama"][1]
    base = measure_face(lm)
    centre = lm.mean(axis=0)
    a = np.radians(15.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    turned = measure_face((lm - centre) @ rot.T * 1.3 + centre)
    for field in ("aperture", "mouth_width", "lip_corner", "brow_height", "ear_left"):
        assert getattr(turned, field) == pytest.approx(getattr(base, field), abs=1e-6)
    assert turned.interocular == pytest.approx(base.interocular * 1.3)
    assert turned.pose[2] - base.pose[2] == pytest.approx(a, abs=0.03)  # + roll is clockwise


def test_closed_eye_has_small_aspect_ratio_and_no_pupil(faces) -> None:
    frame, lm = faces["obama"]
    lm = lm.copy()
    lm[[43, 44], 1] = lm[[47, 46], 1] - 0.5  # upper lid of the subject's left eye on the lower
    m = measure_face(lm, frame)
    assert m.ear_left < 0.05 < CLOSED_EYE_EAR < m.ear_right
    assert m.pupils is not None and m.pupils.left is None and m.pupils.right is not None


def _synthetic_eyes(dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """A 240 x 200 grey face with two almond eyes (light ellipses) whose dark irises sit
    (dx, dy) px from the eye centres; and 68 landmarks with the eye points on the ellipses."""
    image = np.full((200, 240, 3), 150, np.uint8)
    lm = np.zeros((68, 2))
    shape = np.array([(-40, 0), (-15, -15), (15, -15), (40, 0), (15, 15), (-15, 15)], float)
    for first, cx in ((36, 60), (42, 180)):
        cv2.ellipse(image, (cx, 100), (40, 17), 0, 0, 360, (225, 225, 225), -1)
        cv2.circle(image, (round(cx + dx), round(100 + dy)), 12, (40, 40, 40), -1)
        lm[first : first + 6] = shape + (cx, 100)
    return cv2.GaussianBlur(image, (3, 3), 0), lm


def test_pupil_finder_follows_a_dark_disc_in_a_light_eye() -> None:
    offsets = []
    for dx in (-16, -8, 0, 8, 16):
        image, lm = _synthetic_eyes(dx, 0)
        p = find_pupils(image, lm)
        assert p.left is not None and p.right is not None and p.offset is not None
        assert p.left.position == pytest.approx((180 + dx, 100), abs=1.5)
        assert p.right.position == pytest.approx((60 + dx, 100), abs=1.5)
        assert p.left.confidence > 0.9
        offsets.append(p.offset)
    xs = np.array(offsets)[:, 0]
    assert np.all(np.diff(xs) > 0.1)
    assert xs == pytest.approx(np.array([-16, -8, 0, 8, 16]) / 40.0, abs=0.05)
    down = find_pupils(*_synthetic_eyes(0, 4)).offset
    up = find_pupils(*_synthetic_eyes(0, -4)).offset
    assert down[1] > 0.1 > -0.1 > up[1]


def test_pupil_finder_accepts_grey_images_and_skips_eyes_at_the_border() -> None:
    image, lm = _synthetic_eyes(5, 0)
    grey = find_pupils(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), lm)
    assert grey.left is not None and grey.left.position[0] == pytest.approx(185, abs=1.5)
    lm[36:42, 0] -= 50  # right eye pushed off the image's left edge
    clipped = find_pupils(image, lm)
    assert clipped.right is None and clipped.left is not None


def test_eye_aspect_ratio_of_a_known_shape() -> None:
    eye = np.array([(0, 0), (1, -1), (3, -1), (4, 0), (3, 1), (1, 1)], float)
    assert eye_aspect_ratio(eye) == pytest.approx((2 + 2) / (2 * 4))


def test_bad_landmarks_are_rejected() -> None:
    with pytest.raises(ValueError):
        measure_face(np.zeros((5, 2)))
    bad = np.zeros((68, 2))
    bad[3] = np.nan
    with pytest.raises(ValueError):
        measure_face(bad)


def test_fixture_photo_measures_without_an_image() -> None:
    lm = detect_landmarks(fixture_image("obama"))
    m = measure_face(lm, image_size=fixture_image("obama").shape[:2])
    assert m.pupils is None and m.interocular > 30
