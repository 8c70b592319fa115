"""Thin-plate-spline interpolation of 2-D displacements, sized for one solve per frame.

Coordinates are divided by ``FRAME_SIZE`` so the kernel is well scaled; a small ridge
(``SMOOTHING``) keeps the system solvable when two control points land on each other (lips
pressed together, a point pushed onto an anchor) — the spline then averages them instead of
blowing up.
"""

from __future__ import annotations

import cv2
import numpy as np

from model.face.types import FRAME_SIZE

SMOOTHING = 2e-6


def _kernel(d2: np.ndarray) -> np.ndarray:
    """U(r) = r² log r², from squared distances (0 at r = 0)."""
    return d2 * np.log(np.maximum(d2, 1e-12))


def solve(points: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spline through (N, 2) control points (px) with (N, 2) values.

    Returns (weights (N, 2), affine (3, 2)).
    """
    p = points / FRAME_SIZE
    n = p.shape[0]
    d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    a = np.zeros((n + 3, n + 3))
    a[:n, :n] = _kernel(d2) + SMOOTHING * np.eye(n)
    a[:n, n] = 1.0
    a[:n, n + 1 :] = p
    a[n, :n] = 1.0
    a[n + 1 :, :n] = p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = values
    # OpenCV's LU: numpy's threaded OpenBLAS stalls on small systems when the cores are busy.
    ok, sol = cv2.solve(a, rhs, flags=cv2.DECOMP_LU)
    if not ok:
        sol = np.linalg.lstsq(a, rhs, rcond=None)[0]
    return sol[:n], sol[n:]


def evaluate(
    grid: np.ndarray, points: np.ndarray, weights: np.ndarray, affine: np.ndarray
) -> np.ndarray:
    """(G, 2) values of the spline at (G, 2) grid points (px), float32."""
    g = (grid / FRAME_SIZE).astype(np.float32)
    p = (points / FRAME_SIZE).astype(np.float32)
    d2 = (g[:, None, 0] - p[None, :, 0]) ** 2 + (g[:, None, 1] - p[None, :, 1]) ** 2
    # cv2.gemm rather than @ for the same reason as in ``solve``.
    out = cv2.gemm(_kernel(d2), weights.astype(np.float32), 1.0, None, 0.0)
    return (
        out
        + affine[0].astype(np.float32)
        + cv2.gemm(g, affine[1:].astype(np.float32), 1.0, None, 0.0)
    )
