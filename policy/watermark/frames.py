"""Frame checks and the luma helpers shared by the embedder and the detector."""

from __future__ import annotations

import numpy as np

from policy.errors import FrameInvalid

MIN_SIDE = 128  # one tile: smaller frames cannot hold the mark


def check_frame(frame: object) -> np.ndarray:
    """Return ``frame`` if it is an (H, W, 3) uint8 RGB array of usable size, else raise."""
    if not isinstance(frame, np.ndarray):
        raise FrameInvalid("frame must be a numpy array", got=type(frame).__name__)
    if frame.dtype != np.uint8:
        raise FrameInvalid("frame must be uint8", dtype=str(frame.dtype))
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FrameInvalid("frame must be (H, W, 3) RGB", shape=tuple(frame.shape))
    if min(frame.shape[:2]) < MIN_SIDE:
        raise FrameInvalid(f"frame sides must be >= {MIN_SIDE} px", shape=tuple(frame.shape))
    return frame
