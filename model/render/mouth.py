"""The mouth stage: paints the mouth interior, and the line where closed lips meet.

Works in a small box around the target lips, in mouth coordinates
(``model.render.mouth_geometry``: a along the inner-lip corners 60 -> 64, b perpendicular,
down). The inner lips are two curves, upper y_up(a) and lower y_lo(a), through the target
landmarks.

- Opening beyond the portrait's own gap: the warp only stretches lip pixels into the gap, so
  the interior is synthesised there: a dark cavity (lighter towards the lips), the upper teeth
  band under the upper lip (tooth separations at fixed positions along a), the lower teeth once
  the mouth is wide open, a tongue at the bottom. Colours are fixed at bind time from the
  portrait (lips, skin, visible teeth or else the light level); the texture is a pure function
  of the geometry, so nothing flickers. Its strength ramps in with the excess opening and its
  edges are feathered over a pixel.
- Closing a mouth that is open in the portrait: the lip map (``model.render.lips``) already
  made the warp sample lips, not the portrait's opening; this stage darkens the seam where
  the lips meet, as the shadow between real closed lips.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.face.landmarks import MOUTH_INNER
from model.motion.basis import FaceFrame
from model.render.mouth_geometry import MouthFrame, inner_gap, lip_box

__all__ = ["MouthColours", "MouthStage", "inner_gap", "mouth_colours"]

RAMP = 0.06  # excess opening (iod) over which the synthetic interior fades in
TEETH_HEIGHT = 0.11  # upper teeth visible under the upper lip, iod
LOWER_TEETH_HEIGHT = 0.045
TOOTH_WIDTHS = (0.085, 0.07, 0.065, 0.06, 0.06)  # incisor outwards, iod


@dataclass(frozen=True)
class MouthColours:
    """RGB float32 (3,) colours fixed at bind."""

    upper_lip: np.ndarray
    lower_lip: np.ndarray
    cavity: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray


def _region_median(
    image: np.ndarray, polygons: list[np.ndarray], exclude: np.ndarray | None
) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in polygons], 1)
    if exclude is not None:
        cv2.fillPoly(mask, [np.round(exclude).astype(np.int32)], 0)
    px = image[mask > 0].astype(np.float32)
    return np.median(px, axis=0) if len(px) else np.array([150.0, 80.0, 80.0], np.float32)


def mouth_colours(image: np.ndarray, lm: np.ndarray, gap: float, iod: float) -> MouthColours:
    """Colours of the portrait's lips, skin and (if visible) teeth."""
    inner = lm[MOUTH_INNER]
    upper = _region_median(image, [lm[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]]], None)
    lower = _region_median(image, [lm[[54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64]]], None)
    cheeks = [lm[[1, 2, 3, 31, 39]], lm[[15, 14, 13, 35, 42]]]
    skin = _region_median(image, cheeks, None)
    light = float(np.clip(skin.mean() / 165.0, 0.55, 1.1))
    teeth = np.array([236.0, 230.0, 214.0]) * light
    if gap > 0.05 * iod:  # teeth visible in the portrait: take their colour
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
        px = image[mask > 0].astype(np.float32)
        lum = px.mean(axis=1)
        if len(px) >= 8 and np.percentile(lum, 75) > 0.8 * skin.mean():
            teeth = np.median(px[lum >= np.percentile(lum, 70)], axis=0)
    lip = (upper + lower) / 2.0
    return MouthColours(
        upper_lip=upper.astype(np.float32),
        lower_lip=lower.astype(np.float32),
        cavity=(lip * 0.16 + np.array([4.0, 0.0, 0.0])).astype(np.float32),
        teeth=np.clip(teeth, 0, 255).astype(np.float32),
        tongue=(lip * np.array([0.78, 0.55, 0.58]) + 8.0).astype(np.float32),
    )


def _tooth_seams(a: np.ndarray, iod: float) -> np.ndarray:
    """Darkening 0..1 at the separations between teeth, as a function of a (px)."""
    edges = np.cumsum(TOOTH_WIDTHS) * iod
    pos = np.concatenate([[0.0], edges])
    d = np.min(np.abs(np.abs(a)[..., None] - pos), axis=-1)
    return np.exp(-((d / (0.006 * iod + 0.6)) ** 2))


class MouthStage:
    """Mouth interior synthesis and lip closure (see the module docstring)."""

    def __init__(
        self, source: np.ndarray, iod: float, colours: MouthColours, real_teeth: bool
    ) -> None:
        self._gap = inner_gap(source)
        self._src = MouthFrame.of(source)
        self._iod = iod
        self._c = colours
        self._real_teeth = real_teeth

    @classmethod
    def bind(cls, image: np.ndarray, landmarks: np.ndarray, frame: FaceFrame) -> "MouthStage":
        lm = np.asarray(landmarks, dtype=np.float64)
        gap = inner_gap(lm)
        colours = mouth_colours(image, lm, gap, frame.unit)
        real = gap > 0.05 * frame.unit and colours.teeth.mean() > 1.1 * colours.upper_lip.mean()
        return cls(lm, frame.unit, colours, bool(real))

    def apply(
        self, out: np.ndarray, work: np.ndarray, target: np.ndarray, tgt: MouthFrame | None = None
    ) -> None:
        """Edit ``out`` (512, 512, 3) uint8 in place for (68, 2) target landmarks.

        work: the (512, 512, 3) image the warp sampled (the portrait with the eyes edited);
        tgt: the target's mouth frame if the caller has it already.
        """
        gap_t = inner_gap(target)
        strength = float(np.clip((gap_t - self._gap) / (RAMP * self._iod), 0.0, 1.0))
        closing = self._gap > 1.0 and gap_t < self._gap
        if strength <= 0.0 and not closing:
            return
        y0, y1, x0, x1 = lip_box(target, out.shape, 0.12 * self._iod)
        tgt = MouthFrame.of(target) if tgt is None else tgt
        a, b = tgt.coords(
            *np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        )
        y_up, y_lo = tgt.upper(a), tgt.lower(a)
        span = np.clip(tgt.half - np.abs(a) + 0.5, 0.0, 1.0)
        depth = np.minimum(b - y_up, y_lo - b)
        inside = np.clip(depth + 0.5, 0.0, 1.0) * span
        roi = out[y0:y1, x0:x1].astype(np.float32)
        if closing:
            shut = 1.0 - np.clip(gap_t / (0.04 * self._iod), 0.0, 1.0)
            seam = (
                np.exp(-(((b - (y_up + y_lo) / 2.0) / (0.012 * self._iod + 0.5)) ** 2))
                * span
                * shut
            )
            roi *= (1.0 - 0.5 * seam)[:, :, None]
        if strength > 0.0:
            rgb = self._interior(a, b - y_up, y_lo - b, tgt.half)
            if self._real_teeth:
                rgb = self._teeth_from_portrait(
                    rgb, work, a * (self._src.half / tgt.half), b - y_up
                )
            alpha = (inside * strength)[:, :, None]
            roi = roi * (1.0 - alpha) + rgb * alpha
        out[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)

    def _teeth_from_portrait(
        self, rgb: np.ndarray, work: np.ndarray, a_src: np.ndarray, d_up: np.ndarray
    ) -> np.ndarray:
        """Upper band from the portrait's own visible teeth, hung under the upper lip."""
        s = self._src
        yu = s.upper(a_src)
        room = np.minimum(s.lower(a_src) - yu - 1.0, TEETH_HEIGHT * self._iod * 1.3)
        x, y = s.to_xy(a_src, yu + np.maximum(d_up, 0.0))
        real = cv2.remap(work, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(
            np.float32
        )
        band = (np.clip(room - d_up, 0.0, 2.0) / 2.0) * np.clip(s.half - np.abs(a_src), 0.0, 1.0)
        return rgb * (1.0 - band[:, :, None]) + real * band[:, :, None]

    def _interior(
        self, a: np.ndarray, d_up: np.ndarray, d_lo: np.ndarray, half: float
    ) -> np.ndarray:
        iod, c = self._iod, self._c
        opening = np.maximum(d_up + d_lo, 1e-3)
        depth = np.clip(np.minimum(d_up, d_lo) / (0.5 * opening), 0.0, 1.0)
        rgb = c.cavity * (1.25 - 0.45 * depth)[:, :, None]
        # Tongue: a flattened ellipse resting on the lower lip, darker towards the back.
        ta = a / (0.62 * half)
        tb = (d_lo - 0.02 * iod) / np.maximum(0.45 * opening, 0.04 * iod)
        tongue = np.clip((1.0 - (ta**2 + tb**2)) * 4.0, 0.0, 1.0) * (d_lo > 0)
        shade_t = np.clip(1.0 - 0.5 * tb, 0.5, 1.0)
        rgb = (
            rgb * (1.0 - tongue[:, :, None]) + (c.tongue * shade_t[:, :, None]) * tongue[:, :, None]
        )
        edge = np.clip(1.0 - (a / half) ** 2, 0.0, 1.0)  # teeth recede into shadow at the corners
        seams = _tooth_seams(a, iod)
        wide = np.clip((opening - 0.35 * iod) / (0.2 * iod), 0.0, 1.0)
        upper_h = 0.0 if self._real_teeth else TEETH_HEIGHT
        for dist, height, shade in ((d_up, upper_h, 1.0), (d_lo, LOWER_TEETH_HEIGHT * wide, 0.9)):
            h = height * iod * np.sqrt(edge)
            band = np.clip((h - dist) / 1.2 + 0.5, 0.0, 1.0) * (h > 0.5)
            light = shade * (0.6 + 0.4 * edge) * (0.8 + 0.2 * np.clip(dist / 3.0, 0.0, 1.0))
            tooth = c.teeth * (light * (1.0 - 0.15 * seams))[:, :, None]
            rgb = rgb * (1.0 - band[:, :, None]) + tooth * band[:, :, None]
        return rgb
