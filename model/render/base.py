"""The renderer interface: a portrait is bound once, then rendered frame by frame from motion.

``Renderer.bind`` does every per-portrait precomputation (masks, kernels, colours, iris
sprites) and returns a ``BoundRenderer`` whose ``render`` turns one 16-D motion vector
(``model.motion.space``) into one frame. ``WarpRenderer`` (``model.render.warp``) is the
classical implementation; a learned decoder plugs in behind the same two calls.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from model.face.types import Portrait


@runtime_checkable
class BoundRenderer(Protocol):
    """A renderer holding one portrait's precomputed state."""

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(16,) float motion -> (FRAME_SIZE, FRAME_SIZE, 3) uint8 RGB frame.

        Zero motion renders the portrait as photographed. Deterministic: the same motion gives
        the same frame.
        """
        ...


@runtime_checkable
class Renderer(Protocol):
    """Makes bound renderers; holds no per-portrait state itself."""

    def bind(self, portrait: Portrait) -> BoundRenderer:
        """Precompute everything that depends only on the portrait."""
        ...
