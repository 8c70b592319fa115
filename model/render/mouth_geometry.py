"""Mouth coordinates shared by the lip map and the mouth stage.

A ``MouthFrame`` is built from one set of 68 landmarks: a runs along the inner-lip corners
60 -> 64, b perpendicular to it (down), origin midway between the corners. The four lip contours
(outer upper 48..54, inner upper 60..64, inner lower 60..64 through 67..65, outer lower 48..54
through 59..55) are smooth curves b(a) through the landmarks, so a pixel's place in the lips is
read by comparing its b with the curves at its a.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_INNER_UPPER = [60, 61, 62, 63, 64]
_INNER_LOWER = [60, 67, 66, 65, 64]
_OUTER_UPPER = [48, 49, 50, 51, 52, 53, 54]
_OUTER_LOWER = [48, 59, 58, 57, 56, 55, 54]


def catmull_rom(points: np.ndarray, samples: int = 8) -> np.ndarray:
    """(K, 2) dense smooth curve through (n, 2) points (ends duplicated)."""
    p = np.concatenate([points[:1], points, points[-1:]])
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[None, :, None]  # (1, S, 1)
    p0, p1, p2, p3 = (p[i : len(p) - 3 + i, None, :] for i in range(4))  # (n-1, 1, 2) each
    segs = 0.5 * (
        (2 * p1)
        + (-p0 + p2) * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
        + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
    )
    return np.concatenate([segs.reshape(-1, p.shape[1]), points[-1:]])


def _curve(loc: np.ndarray, idx: list[int]) -> np.ndarray:
    c = catmull_rom(loc[idx])
    return c[np.argsort(c[:, 0], kind="stable")]


def _at(curve: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.interp(a, curve[:, 0], curve[:, 1]).astype(np.float32)


@dataclass(frozen=True)
class MouthFrame:
    """Mouth coordinates of one set of landmarks (see the module docstring).

    mid: (2,) px; ux, uy: (2,) unit axes; half: half the inner-corner distance, px;
    outer_left, outer_right: how far the outer lips reach along -a and +a (corner 48 / 54 or
    the points beside it, which a rounded mouth pushes past the corner; at least half), px;
    curves: (K, 2) (a, b).
    """

    mid: np.ndarray
    ux: np.ndarray
    uy: np.ndarray
    half: float
    outer_left: float
    outer_right: float
    upper_curve: np.ndarray
    lower_curve: np.ndarray
    outer_upper_curve: np.ndarray
    outer_lower_curve: np.ndarray

    @classmethod
    def of(cls, lm: np.ndarray) -> "MouthFrame":
        c0, c1 = lm[60], lm[64]
        half = max(float(np.hypot(*(c1 - c0))) / 2.0, 1.0)
        ux = (c1 - c0) / (2.0 * half)
        uy = np.array([-ux[1], ux[0]])
        mid = (c0 + c1) / 2.0
        loc = (lm - mid) @ np.stack([ux, uy]).T
        return cls(
            mid,
            ux,
            uy,
            half,
            max(float(-loc[[48, 49, 59], 0].min()), half),
            max(float(loc[[54, 53, 55], 0].max()), half),
            _curve(loc, _INNER_UPPER),
            _curve(loc, _INNER_LOWER),
            _curve(loc, _OUTER_UPPER),
            _curve(loc, _OUTER_LOWER),
        )

    def outer_end(self, a: np.ndarray) -> np.ndarray:
        """(...) the outer corner's reach on a's side of the mouth, px."""
        return np.where(a < 0, self.outer_left, self.outer_right).astype(np.float32)

    def coords(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image px -> (a, b) float32."""
        dx, dy = x - self.mid[0], y - self.mid[1]
        return (dx * self.ux[0] + dy * self.ux[1]).astype(np.float32), (
            dx * self.uy[0] + dy * self.uy[1]
        ).astype(np.float32)

    def to_xy(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) -> image px, float32."""
        x = self.mid[0] + a * self.ux[0] + b * self.uy[0]
        y = self.mid[1] + a * self.ux[1] + b * self.uy[1]
        return x.astype(np.float32), y.astype(np.float32)

    def upper(self, a: np.ndarray) -> np.ndarray:
        """b of the inner upper lip edge at a."""
        return _at(self.upper_curve, a)

    def lower(self, a: np.ndarray) -> np.ndarray:
        """b of the inner lower lip edge at a."""
        return _at(self.lower_curve, a)

    def outer_upper(self, a: np.ndarray) -> np.ndarray:
        """b of the upper lip's outer edge (vermilion border) at a."""
        return _at(self.outer_upper_curve, a)

    def outer_lower(self, a: np.ndarray) -> np.ndarray:
        """b of the lower lip's outer edge at a."""
        return _at(self.outer_lower_curve, a)


def lip_box(target: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) box around the lip landmarks 48..67 grown by margin px, in the image."""
    lips = target[48:68]
    x0 = int(max(np.floor(lips[:, 0].min() - margin), 0))
    x1 = int(min(np.ceil(lips[:, 0].max() + margin) + 1, shape[1]))
    y0 = int(max(np.floor(lips[:, 1].min() - margin), 0))
    y1 = int(min(np.ceil(lips[:, 1].max() + margin) + 1, shape[0]))
    return y0, max(y1, y0 + 1), x0, max(x1, x0 + 1)


_PAIRS = np.array([[61, 67], [62, 66], [63, 65]])


def inner_gap(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap (px) of (68, 2) landmarks."""
    d = landmarks[_PAIRS[:, 1]] - landmarks[_PAIRS[:, 0]]
    return float(np.mean(np.hypot(d[:, 0], d[:, 1])))
