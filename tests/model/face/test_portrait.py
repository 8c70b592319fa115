from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from model.errors import (
    ExtremePose,
    FaceTooSmall,
    ImageTooSmall,
    ImageUnreadable,
    MultipleFaces,
    NoFaceFound,
)
from model.face import landmarks as lm
from model.face.dlib_models import face_detector, landmark_predictor
from model.face.portrait import (
    FRAME_EYE_MIDPOINT,
    FRAME_INTEROCULAR,
    PortraitLimits,
    _check_pose,
    _Detection,
    _pick_subject,
    analyse_portrait,
)
from model.face.types import FRAME_SIZE, Portrait
from tests.model.face.helpers import FACES, SAMPLE_PORTRAIT, read_rgb, source_landmarks


# --- aligned output -------------------------------------------------------------------------


def test_aligned_geometry(obama_portrait: Portrait, obama: np.ndarray) -> None:
    p = obama_portrait
    assert p.image.shape == (FRAME_SIZE, FRAME_SIZE, 3) and p.image.dtype == np.uint8
    assert p.landmarks.shape == (68, 2) and p.landmarks.dtype == np.float32
    assert p.transform.shape == (2, 3) and p.pose.shape == (3,)
    assert p.source_size == obama.shape[:2]
    left, right = lm.eye_centres(p.landmarks)
    assert abs(left[1] - right[1]) < 0.5  # eyes level
    assert p.interocular == pytest.approx(FRAME_INTEROCULAR, abs=0.5)
    np.testing.assert_allclose((left + right) / 2, FRAME_EYE_MIDPOINT, atol=0.5)
    x0, y0, x1, y1 = p.face_box
    assert 0 <= x0 < left[0] < right[0] < x1 <= FRAME_SIZE and 0 <= y0 < left[1] < y1


def test_transform_maps_source_pixels_into_the_frame(
    obama_portrait: Portrait, obama: np.ndarray
) -> None:
    # A source pixel and its image under ``transform`` have the same colour.
    p = obama_portrait
    src = source_landmarks(p)
    assert src.min() > 0 and src[:, 0].max() < obama.shape[1] and src[:, 1].max() < obama.shape[0]
    nose_src = obama[int(round(src[30, 1])), int(round(src[30, 0]))].astype(int)
    nose_frame = p.image[int(round(p.landmarks[30, 1])), int(round(p.landmarks[30, 0]))]
    assert np.abs(nose_src - nose_frame.astype(int)).max() < 25


@pytest.mark.parametrize("name", ["obama_portrait", "obama2_portrait"])
def test_landmarks_land_on_the_redetected_face(name: str, request: pytest.FixtureRequest) -> None:
    p: Portrait = request.getfixturevalue(name)
    rects = face_detector()(p.image, 0)
    assert len(rects) == 1
    shape = landmark_predictor()(p.image, rects[0])
    again = np.array([(q.x, q.y) for q in shape.parts()], dtype=np.float64)
    err = np.linalg.norm(again - p.landmarks, axis=1)
    assert err.mean() < 3.0 and np.median(err) < 3.0


def test_deterministic(obama: np.ndarray, obama_portrait: Portrait) -> None:
    again = analyse_portrait(obama.copy())
    np.testing.assert_array_equal(again.image, obama_portrait.image)
    np.testing.assert_array_equal(again.landmarks, obama_portrait.landmarks)
    np.testing.assert_array_equal(again.pose, obama_portrait.pose)
    assert again.face_box == obama_portrait.face_box


def test_grey_and_rgba_inputs(obama: np.ndarray, obama_portrait: Portrait) -> None:
    rgba = np.dstack([obama, np.full(obama.shape[:2], 7, np.uint8)])
    from_rgba = analyse_portrait(rgba)
    np.testing.assert_array_equal(from_rgba.image, obama_portrait.image)
    grey = cv2.cvtColor(obama, cv2.COLOR_RGB2GRAY)
    from_grey = analyse_portrait(grey)
    assert from_grey.image.shape == (FRAME_SIZE, FRAME_SIZE, 3)
    assert np.array_equal(from_grey.image[..., 0], from_grey.image[..., 2])
    err = np.linalg.norm(from_grey.landmarks - obama_portrait.landmarks, axis=1)
    assert err.mean() < 2.0 and err.max() < 8.0


def test_sample_portrait_is_accepted() -> None:
    image = read_rgb(SAMPLE_PORTRAIT)
    assert min(image.shape[:2]) >= 300
    p = analyse_portrait(image)
    assert np.all(np.abs(np.degrees(p.pose)) < 10)


def test_clothing_pattern_is_not_a_rival_face() -> None:
    # The full astronaut photo: dlib (RGB, upsample 1) also scores a suit patch as a weak face.
    p = analyse_portrait(read_rgb(FACES / "astronaut.jpg"))
    src = source_landmarks(p)
    assert src[:, 1].max() < 200  # the subject is the real face in the upper part
    measured = [_Detection((175, 76, 266, 167), 1.225), _Detection((126, 335, 216, 426), 0.127)]
    assert _pick_subject(measured, PortraitLimits()) is measured[0]


def test_rival_rules() -> None:
    subject = _Detection((0, 0, 100, 100), 1.5)
    limits = PortraitLimits()
    small = _Detection((200, 0, 260, 60), 2.0)  # 0.36 of the area: a face in the background
    unsure = _Detection((200, 0, 300, 100), limits.rival_min_score - 0.1)
    assert _pick_subject([subject, small, unsure], limits) is subject
    rival = _Detection((200, 0, 290, 90), 0.9)
    with pytest.raises(MultipleFaces) as err:
        _pick_subject([subject, small, rival], limits)
    assert err.value.context["count"] == 2 and err.value.context["sizes"] == [100, 90]


# --- rejections -----------------------------------------------------------------------------


def test_two_faces_side_by_side(obama: np.ndarray, biden: np.ndarray) -> None:
    # Biden's face in his photo is smaller; scale it to a comparable size, as in a group photo.
    biden = cv2.resize(biden, None, fx=1.4, fy=1.4, interpolation=cv2.INTER_CUBIC)
    pair = np.full(
        (max(obama.shape[0], biden.shape[0]), obama.shape[1] + biden.shape[1], 3), 128, np.uint8
    )
    pair[: obama.shape[0], : obama.shape[1]] = obama
    pair[: biden.shape[0], obama.shape[1] :] = biden
    with pytest.raises(MultipleFaces) as err:
        analyse_portrait(pair)
    assert err.value.code == "multiple_faces"
    assert err.value.context["count"] == 2 and len(err.value.context["sizes"]) == 2


def test_no_face_in_noise() -> None:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 320)[None, :, None] * np.ones((240, 1, 3))
    image = np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)
    with pytest.raises(NoFaceFound):
        analyse_portrait(image)


def test_small_face_in_a_large_canvas(obama: np.ndarray) -> None:
    small = cv2.resize(obama, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    canvas = np.full((700, 700, 3), 128, np.uint8)
    canvas[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    with pytest.raises(FaceTooSmall) as err:
        analyse_portrait(canvas)
    assert 15 < err.value.context["interocular"] < 28 and err.value.context["minimum"] == 28


def test_image_too_small() -> None:
    with pytest.raises(ImageTooSmall) as err:
        analyse_portrait(np.zeros((100, 300, 3), np.uint8))
    assert err.value.context == {"width": 300, "height": 100, "minimum": 128}


def test_too_many_pixels() -> None:
    with pytest.raises(ImageUnreadable) as err:
        analyse_portrait(np.zeros((400, 400), np.uint8), PortraitLimits(max_pixels=100_000))
    assert err.value.context["reason"] == "too_many_pixels"


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((200, 200, 3), np.float32),
        np.zeros((200, 200, 3), np.uint16),
        np.zeros((200, 200, 2), np.uint8),
        np.zeros((2, 200, 200, 3), np.uint8),
        np.zeros((200,), np.uint8),
        [[0, 1], [2, 3]],
    ],
    ids=["float32", "uint16", "two-channels", "4-d", "1-d", "list"],
)
def test_odd_arrays_are_unreadable(image: object) -> None:
    with pytest.raises(ImageUnreadable) as err:
        analyse_portrait(image)  # type: ignore[arg-type]
    assert err.value.context["reason"] in {"bad_dtype", "bad_shape", "not_an_array"}


def test_extreme_yaw_on_a_turned_photo(obama2: np.ndarray) -> None:
    # obama2.jpg is turned ~22 degrees towards the image's left: over a 15-degree limit.
    with pytest.raises(ExtremePose) as err:
        analyse_portrait(obama2, PortraitLimits(max_yaw=math.radians(15)))
    ctx = err.value.context
    assert ctx["angle"] == "yaw" and ctx["value_deg"] < -15 and ctx["limit_deg"] == 15


def test_extreme_roll_on_a_rotated_photo(obama: np.ndarray) -> None:
    h, w = obama.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, 150), -25, 1.0)  # 25 degrees clockwise on screen
    tilted = cv2.warpAffine(obama, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)
    with pytest.raises(ExtremePose) as err:
        analyse_portrait(tilted, PortraitLimits(max_roll=math.radians(15)))
    assert err.value.context["angle"] == "roll" and err.value.context["value_deg"] > 15


@pytest.mark.parametrize("angles", [(0.0, 0.7, 0.0), (0.0, -0.7, 0.0), (0.8, 0.0, 0.0)])
def test_default_limits_reject_far_turned_heads(angles: tuple[float, float, float]) -> None:
    # The pose check on landmarks of the 3-D face template turned beyond the default limits.
    pts = lm.project_template(*angles, (512, 512), (256.0, 215.0), 96.0)
    pose = lm.estimate_head_pose(pts, (512, 512))
    with pytest.raises(ExtremePose) as err:
        _check_pose(pose, PortraitLimits())
    assert err.value.context["angle"] == ("pitch" if angles[1] else "yaw")
    _check_pose(
        lm.estimate_head_pose(
            lm.project_template(0.3, 0.2, 0.3, (512, 512), (256.0, 215.0), 96.0), (512, 512)
        ),
        PortraitLimits(),
    )
