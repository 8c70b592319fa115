"""Blinks: the upper lid drawn down over one eye, in the eye stage's region of the portrait.

The lid margin comes down from the upper lid line U to N = U + b (L - U) (L the lower lid
line; at b = 1 the lids meet); rows below N are untouched, and a darker lash line runs along N.
Eyes are level after alignment, so the lid lines are functions of the column. What the lid is
made of depends on what the portrait shows above the eye, judged once per eye at bind time:

- slide (most faces: lid skin between the lashes and the brow): the band ``LID_BAND`` above U
  is stretched down to N, so the lid's own skin and lashes come down and occlude the eye.
- under-eye skin (low or furrowed brows, deep-set or shadowed lids: the band above U is much
  darker than the skin under the eye, ``SKIN_BELOW`` .. ``SLIDE_ABOVE``): stretching it would
  pull the brow over the eye, which reads as an open, dark eye. The lid is made instead of the
  skin under the eye, mirrored upwards about the lower lid, toned to the lighter skin above the
  eye and easing into the colour just above the lid at its top; it covers the portrait's own
  upper lashes (``LASH_COVER``) and carries a heavier lash line. Every face has skin there.

Between the two thresholds the two lids are blended.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from model.render.mouth_geometry import catmull_rom

LID_BAND = 0.22  # slide: lid skin above the margin that takes part in the slide, iod
SLIDE_LASH = (0.03, 0.3)  # slide: lash line width (iod) and darkness
UNDER_EYE = 0.06  # skin lid: its skin is taken from this far below the lower lid line on, iod
LASH_COVER = 0.13  # skin lid: it covers this much above the upper lid line (its lashes), iod
SKIN_LASH = (0.065, 0.8)  # skin lid: lash line width (iod) and darkness
LID_SHADE = 0.95  # skin lid: a little darker than the skin it is made of
TOP_EASE = 8.0  # skin lid: its colour eases into the colour above it as (share from top)^this
DETAIL = 0.8  # skin lid: share of the under-eye skin's fine texture it carries
SKIN_BELOW = 0.35  # above-eye band / under-eye luminance at or below which the skin lid is used
SLIDE_ABOVE = 0.45  # ... and at or above which the slide is used


@dataclass(frozen=True)
class Lid:
    """One eye's lid geometry in ROI pixels (see the module docstring).

    upper, lower: (w,) lid lines; grid_x, grid_y: (h, w) float32 pixel coordinates;
    band, cover, under, lash widths: px; tone: (3,) gain from the under-eye skin to the skin
    above the eye; skin_share: 0 slide .. 1 skin lid.
    """

    upper: np.ndarray
    lower: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    band: float
    cover: float
    under: float
    slide_lash: float
    skin_lash: float
    tone: np.ndarray
    skin_share: float


def lid_rows(eye: np.ndarray, iod: float) -> tuple[float, float]:
    """Rows (top, bottom) the lid needs around an eye's (6, 2) points: the slide's band above,
    the skin lid's source skin below (as tall as the eye, past the lower lashes)."""
    height = float(eye[:, 1].max() - eye[:, 1].min())
    top = eye[:, 1].min() - (max(LID_BAND, LASH_COVER) + 0.05) * iod
    bottom = eye[:, 1].max() + (UNDER_EYE + LASH_COVER) * iod + height + 2.0
    return float(top), float(bottom)


def lid_lines(eye: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w,) upper and lower lid y at columns xs: smooth curves through the 6 dlib eye points."""
    out = []
    for idx in ([0, 1, 2, 3], [0, 5, 4, 3]):
        c = catmull_rom(eye[idx])
        c = c[np.argsort(c[:, 0], kind="stable")]
        out.append(np.interp(xs, c[:, 0], c[:, 1]))
    return out[0], out[1]


def _band(roi: np.ndarray, line: np.ndarray, t0: float, t1: float, cols: np.ndarray) -> np.ndarray:
    """(n, 3) float32 pixels of the given columns between line + t0 and line + t1 (px)."""
    h = roi.shape[0]
    px = [
        roi[r, c]
        for c in cols
        for r in range(max(int(np.ceil(line[c] + t0)), 0), min(int(np.floor(line[c] + t1)) + 1, h))
    ]
    return np.asarray(px, np.float32).reshape(-1, 3)


def bind_lid(roi: np.ndarray, eye: np.ndarray, iod: float) -> Lid:
    """roi: (h, w, 3) uint8 region of the portrait; eye: (6, 2) dlib eye points in ROI px."""
    h, w = roi.shape[:2]
    upper, lower = lid_lines(eye, np.arange(w, dtype=np.float64))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    cols = np.nonzero(upper < lower - 0.5)[0]
    above = _band(roi, upper, -LID_BAND * iod, -0.05 * iod, cols)
    below = _band(roi, lower, UNDER_EYE * iod, (UNDER_EYE + 0.12) * iod, cols)
    tone = np.ones(3, np.float32)
    share = 0.0
    if len(above) and len(below):
        lum_above, lum_below = above.mean(axis=1), below.mean(axis=1)
        ratio = float(np.median(lum_above) / max(float(np.median(lum_below)), 1.0))
        share = float(np.clip((SLIDE_ABOVE - ratio) / (SLIDE_ABOVE - SKIN_BELOW), 0.0, 1.0))
        skin_above = np.median(above[lum_above >= np.median(lum_above)], axis=0)
        skin_below = np.median(below[lum_below >= np.median(lum_below)], axis=0)
        tone = np.clip(skin_above / np.maximum(skin_below, 1.0), 0.6, 1.1).astype(np.float32)
    return Lid(
        upper=upper.astype(np.float32),
        lower=lower.astype(np.float32),
        grid_x=gx,
        grid_y=gy,
        band=LID_BAND * iod,
        cover=LASH_COVER * iod,
        under=UNDER_EYE * iod,
        slide_lash=SLIDE_LASH[0] * iod,
        skin_lash=SKIN_LASH[0] * iod,
        tone=tone,
        skin_share=share,
    )


def close_lid(roi: np.ndarray, lid: Lid, blink: float, lowered: float = 0.0) -> np.ndarray:
    """(h, w, 3) float32 ROI with the lid closed by blink (0..1) from its rest line lowered by
    ``lowered`` (0..1, a share of the opening: the lid following a downward gaze). The lowering
    is always a slide (it is small); the blink then starts from the lowered lid."""
    if lowered > 0.0:
        roi = _slide(roi, lid, lowered)
        lid = replace(lid, upper=lid.upper + lowered * np.maximum(lid.lower - lid.upper, 0.0))
    if blink <= 0.0:
        return roi
    if lid.skin_share <= 0.0:
        return _slide(roi, lid, blink)
    if lid.skin_share >= 1.0:
        return _skin_lid(roi, lid, blink)
    s = lid.skin_share
    return _skin_lid(roi, lid, blink) * s + _slide(roi, lid, blink) * (1.0 - s)


def _gap(lid: Lid) -> tuple[np.ndarray, np.ndarray]:
    """(w,) lid gap and its share of the widest gap (0 at the corners)."""
    gap = np.maximum(lid.lower - lid.upper, 0.0)
    return gap, np.clip(gap / max(float(gap.max()), 1e-3), 0.0, 1.0)


def _lash(above: np.ndarray, width: float, centre: float, fade: np.ndarray) -> np.ndarray:
    """(h, w) 0..1 lash line: a ridge ``centre`` widths above the margin, fading to corners."""
    return np.clip(1.0 - np.abs(above - centre * width) / width, 0.0, 1.0) * fade


def _slide(roi: np.ndarray, lid: Lid, blink: float) -> np.ndarray:
    gap, share = _gap(lid)
    drop = blink * gap  # (w,) how far the lid margin comes down
    line = lid.upper + drop
    top = lid.upper - lid.band
    y = lid.grid_y
    # The lid above the new margin is shifted down by `drop`, easing in from `top` (smoothstep),
    # so the lashes travel rigidly and the skin above them stretches.
    t = np.clip((y - top) / np.maximum(line - top, 1e-3), 0.0, 1.0)
    src_y = (y - drop * t * t * (3.0 - 2.0 * t)).astype(np.float32)
    out = cv2.remap(roi, lid.grid_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    above = line - y
    lash = _lash(above, lid.slide_lash, 0.5, np.clip(2.0 * share, 0.0, 1.0))
    out = out * (1.0 - SLIDE_LASH[1] * blink * lash)[:, :, None]
    alpha = np.clip(above + 0.5, 0.0, 1.0)[:, :, None]
    return out * alpha + roi * (1.0 - alpha)


def _skin_lid(roi: np.ndarray, lid: Lid, blink: float) -> np.ndarray:
    gap, share = _gap(lid)
    line = lid.upper + blink * gap
    # The cover tapers to the corners and is never more than the travel: the portrait's lashes
    # are hidden only once the lid has come down past them.
    cover = np.minimum(lid.cover * np.sqrt(np.clip(share / 0.7, 0.0, 1.0)), 2.0 * blink * gap)
    top = lid.upper - cover
    y = lid.grid_y
    above = line - y  # > 0 on the lid
    # The row d above N samples the skin d below the lower lid (+ UNDER_EYE).
    src_y = (lid.lower + lid.under + np.maximum(above, 0.0)).astype(np.float32)
    skin = cv2.remap(roi, lid.grid_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    skin = _skin_texture(roi, lid, skin, top, np.maximum(line - top, 1.0), above)
    lash = _lash(above, lid.skin_lash, 0.4, np.clip(2.0 * share, 0.0, 1.0))
    skin = skin * (1.0 - SKIN_LASH[1] * np.sqrt(blink) * lash)[:, :, None]
    # On the lid between top and N, feathered over a pixel at N and over the cover at the top.
    at_top = np.clip((y - top) / np.maximum(0.5 * cover, 1.0) + 0.5, 0.0, 1.0)
    alpha = (np.clip(above + 0.5, 0.0, 1.0) * at_top)[:, :, None]
    return skin * alpha + roi * (1.0 - alpha)


def _skin_texture(
    roi: np.ndarray,
    lid: Lid,
    skin: np.ndarray,
    top: np.ndarray,
    height: np.ndarray,
    above: np.ndarray,
) -> np.ndarray:
    """The skin lid's colour: the toned under-eye skin, easing at the top into the colour just
    above the lid (no edge there), with the under-eye skin's fine texture."""
    k = max(int(lid.skin_lash) | 1, 3)
    cols = np.arange(roi.shape[1])
    rows = np.clip(np.round(top - 1.5).astype(int), 0, roi.shape[0] - 1)
    over = cv2.blur(roi[rows, cols][None], (k, 1))  # (1, w, 3)
    smooth = cv2.blur(skin, (2 * k + 1, 2 * k + 1))
    base = smooth * (LID_SHADE * lid.tone)
    t = np.clip(above / height, 0.0, 1.0)[:, :, None] ** TOP_EASE  # 1 at the top
    return base + t * (over - base) + DETAIL * (skin - smooth)
