"""Small deterministic clips built from a fixture portrait (no model, no downloads)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from policy.watermark import WatermarkKey, WatermarkPayload

FACE = Path(__file__).resolve().parents[2] / "fixtures" / "faces" / "obama.jpg"
SIZE = 512


def make_clip(frames: int = 12, size: int = SIZE) -> list[np.ndarray]:
    """A still portrait that drifts a few pixels and brightens slightly: a stand-in for video."""
    image = cv2.cvtColor(cv2.imread(str(FACE)), cv2.COLOR_BGR2RGB)
    side = min(image.shape[:2])
    square = cv2.resize(image[:side, :side], (size + 16, size + 16), interpolation=cv2.INTER_AREA)
    clip = []
    for k in range(frames):
        dy, dx = 8 + round(3 * np.sin(k / 3)), 8 + round(3 * np.cos(k / 4))
        frame = square[dy : dy + size, dx : dx + size].astype(np.int16) + (k % 5)
        clip.append(np.clip(frame, 0, 255).astype(np.uint8))
    return clip


@pytest.fixture(scope="session")
def clip() -> list[np.ndarray]:
    return make_clip()


@pytest.fixture(scope="session")
def key() -> WatermarkKey:
    return WatermarkKey(bytes(range(32)))


@pytest.fixture(scope="session")
def payload() -> WatermarkPayload:
    return WatermarkPayload(asset_id=0x00C0FFEE123456, version=2)
