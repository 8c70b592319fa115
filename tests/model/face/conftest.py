"""Shared, expensive face fixtures: each photo is decoded and analysed once per test session."""

from __future__ import annotations

import numpy as np
import pytest

from model.face.portrait import PortraitLimits, analyse_portrait
from model.face.types import Portrait
from tests.model.face.helpers import FACES, read_rgb


@pytest.fixture(scope="session")
def obama() -> np.ndarray:
    return read_rgb(FACES / "obama.jpg")


@pytest.fixture(scope="session")
def obama2() -> np.ndarray:
    return read_rgb(FACES / "obama2.jpg")


@pytest.fixture(scope="session")
def biden() -> np.ndarray:
    return read_rgb(FACES / "biden.jpg")


@pytest.fixture(scope="session")
def obama_portrait(obama: np.ndarray) -> Portrait:
    return analyse_portrait(obama)


@pytest.fixture(scope="session")
def obama2_portrait(obama2: np.ndarray) -> Portrait:
    return analyse_portrait(obama2)


@pytest.fixture(scope="session")
def biden_portrait(biden: np.ndarray) -> Portrait:
    # The fixture photo is small: Biden's eyes are 26 px apart, under the default 28 px floor.
    return analyse_portrait(biden, PortraitLimits(min_interocular=20.0))
