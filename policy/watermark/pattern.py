"""The keyed tile: a T x T luma pattern of smooth chips, repeated over the whole frame.

The tile is a grid of ``G x G`` chips (chip = ``T / G`` pixels). A keyed random subset of ``sync``
chips carries the known sync signs; every other chip carries one coded bit times a keyed sign, the
coded bits dealt round-robin over the keyed order so each owns ``data_chips // coded_bits`` or one
more chips (the interleaving is keyed too). Chip values are
interpolated smoothly over the chip grid (bicubic, wrapping around the tile) so that the pattern's
energy sits below ~0.2 cycles/pixel, where H.264/H.265 quantisation and 0.5x resizing leave it,
and so it looks like faint film grain rather than blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from policy.watermark.ecc import CRC_BITS, coded_length
from policy.watermark.keys import WatermarkKey
from policy.watermark.payload import PAYLOAD_BYTES


@dataclass(frozen=True)
class TileLayout:
    """Geometry of the tile and how its chips are shared between sync and data."""

    tile: int = 128  # pixels; a frame holds (H / tile) x (W / tile) copies
    grid: int = 32  # chips per side (chip = tile / grid pixels)
    sync: int = 250  # chips carrying the known sync signs; the rest carry coded bits

    @property
    def chip(self) -> int:
        return self.tile // self.grid

    @property
    def coded_bits(self) -> int:
        return coded_length(8 * PAYLOAD_BYTES + CRC_BITS)

    @property
    def data_chips(self) -> int:
        return self.grid * self.grid - self.sync

    @property
    def sync_chips(self) -> int:
        return self.sync


DEFAULT_LAYOUT = TileLayout()


@dataclass(frozen=True)
class KeyedTile:
    """The keyed assignment of chips for one key and layout (no payload yet).

    sync_sign: (G, G) float32, +-1 on sync chips, 0 elsewhere.
    data_sign: (G, G) float32, +-1 on data chips, 0 on sync chips.
    bit_index: (G, G) int64, the coded bit a data chip carries (-1 on sync chips).
    """

    layout: TileLayout
    sync_sign: np.ndarray
    data_sign: np.ndarray
    bit_index: np.ndarray

    @classmethod
    def build(cls, key: WatermarkKey, layout: TileLayout = DEFAULT_LAYOUT) -> "KeyedTile":
        g, rng = layout.grid, key.rng(f"tile/{layout.tile}/{layout.grid}/{layout.sync}")
        order = rng.permutation(g * g)
        signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=g * g)
        bit_index = np.full(g * g, -1, np.int64)
        data = order[: layout.data_chips]
        bit_index[data] = np.arange(layout.data_chips) % layout.coded_bits
        is_sync = bit_index < 0
        sync_sign = np.where(is_sync, signs, 0).astype(np.float32)
        data_sign = np.where(is_sync, 0, signs).astype(np.float32)
        return cls(layout, sync_sign.reshape(g, g), data_sign.reshape(g, g), bit_index.reshape(g, g))

    def chip_values(self, coded: np.ndarray) -> np.ndarray:
        """(G, G) chip amplitudes for coded bits (0/1): sync signs + signed data bits."""
        bits = 1.0 - 2.0 * coded.astype(np.float32)  # bit 0 -> +1
        data = self.data_sign * bits[np.maximum(self.bit_index, 0)]
        return (self.sync_sign + data).astype(np.float32)

    @cached_property
    def sync_template(self) -> np.ndarray:
        """(T, T) pixel template of the sync chips alone, as embedded (smooth)."""
        return smooth_tile(self.sync_sign, self.layout.tile)


def smooth_tile(chips: np.ndarray, tile: int, normalise: bool = True) -> np.ndarray:
    """(G, G) chip values -> (T, T) float32 pattern, bicubic over the wrapped chip grid.

    With ``normalise`` the result is scaled to unit RMS."""
    g = chips.shape[0]
    pad = 2
    wrapped = np.pad(chips, pad, mode="wrap")
    scale = tile // g
    size = (g + 2 * pad) * scale
    # Chip centres land on pixel centres of their chip; crop the padding back off.
    big = cv2.resize(wrapped, (size, size), interpolation=cv2.INTER_CUBIC)
    out = big[pad * scale : pad * scale + tile, pad * scale : pad * scale + tile]
    rms = (float(np.sqrt(np.mean(out**2))) or 1.0) if normalise else 1.0
    return np.ascontiguousarray(out / rms, dtype=np.float32)


def tile_frame(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """Repeat a (T, T) tile over (height, width), starting at the top-left corner."""
    t = tile.shape[0]
    reps = (-(-height // t), -(-width // t))
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])
