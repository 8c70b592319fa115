from __future__ import annotations

import numpy as np
import pytest

from model.errors import ImageUnreadable
from model.face.identity import (
    DESCRIPTOR_DIM,
    SAME_PERSON_DISTANCE,
    face_descriptor,
    identity_distance,
)
from model.face.types import Portrait
from tests.model.face.helpers import source_landmarks


@pytest.fixture(scope="module")
def descriptors(
    obama_portrait: Portrait, obama2_portrait: Portrait, biden_portrait: Portrait
) -> dict[str, np.ndarray]:
    return {
        "obama": face_descriptor(obama_portrait.image, obama_portrait.landmarks),
        "obama2": face_descriptor(obama2_portrait.image, obama2_portrait.landmarks),
        "biden": face_descriptor(biden_portrait.image, biden_portrait.landmarks),
    }


def test_descriptor_shape(descriptors: dict[str, np.ndarray]) -> None:
    d = descriptors["obama"]
    assert d.shape == (DESCRIPTOR_DIM,) and d.dtype == np.float32 and np.all(np.isfinite(d))


def test_alignment_keeps_identity(
    obama: np.ndarray, obama_portrait: Portrait, descriptors: dict[str, np.ndarray]
) -> None:
    original = face_descriptor(obama, source_landmarks(obama_portrait))
    assert identity_distance(original, descriptors["obama"]) <= 0.2


def test_same_person_is_close_and_others_far(descriptors: dict[str, np.ndarray]) -> None:
    assert identity_distance(descriptors["obama"], descriptors["obama2"]) < SAME_PERSON_DISTANCE
    assert identity_distance(descriptors["obama"], descriptors["biden"]) > SAME_PERSON_DISTANCE
    assert identity_distance(descriptors["obama2"], descriptors["biden"]) > SAME_PERSON_DISTANCE


def test_deterministic(obama_portrait: Portrait, descriptors: dict[str, np.ndarray]) -> None:
    again = face_descriptor(obama_portrait.image, obama_portrait.landmarks)
    np.testing.assert_array_equal(again, descriptors["obama"])


def test_distance_is_a_metric(descriptors: dict[str, np.ndarray]) -> None:
    a, b = descriptors["obama"], descriptors["biden"]
    assert identity_distance(a, a) == 0.0
    assert identity_distance(a, b) == pytest.approx(identity_distance(b, a))
    with pytest.raises(ValueError):
        identity_distance(a, b[:64])


def test_bad_inputs(obama_portrait: Portrait) -> None:
    with pytest.raises(ImageUnreadable):
        face_descriptor(obama_portrait.image[..., 0], obama_portrait.landmarks)
    with pytest.raises(ImageUnreadable):
        face_descriptor(obama_portrait.image.astype(np.float32), obama_portrait.landmarks)
    with pytest.raises(ValueError):
        face_descriptor(obama_portrait.image, obama_portrait.landmarks[:60])
