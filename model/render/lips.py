"""The lip map: the lips' own backward warp, for portraits photographed with the mouth open.

The spline warp knows the lips only by their landmarks. When a mouth that is open in the
portrait closes, the band between the two lips in the frame samples whatever lay between the
control points: the portrait's teeth and cavity, smeared. A face detector (and a viewer) then
still reads an open mouth. So inside the lips the backward map is rebuilt column by column in
mouth coordinates (``model.render.mouth_geometry``):

- the target upper lip (outer edge -> inner edge) samples the portrait's upper lip, outer edge
  -> inner edge, stretched or squeezed: the lip keeps its texture and its vermilion border;
- the target opening samples the portrait's opening: all of it, stretched, when the target
  opens wider; else only a band around its middle ``OPENING_SQUEEZE`` times the target's
  height (a small opening shows the depth of the mouth, not a miniature of the photographed
  teeth);
- the target lower lip samples the portrait's lower lip the same way.

So a closed target mouth is two lips meeting at a line, whatever the photo shows. dlib's inner
lip points stray by several pixels on an open mouth (onto the teeth where they show under the
lip), so at bind time the portrait's inner lip edges are re-found in the pixels: walking from
inside each lip towards the opening, the lip ends at the first pixel that is much less red
(teeth, even shadowed ones, have a* near 0 where lips have 15..30) or much darker (the cavity)
than the lip's median (``find_lip_edges``). The map is blended into the spline's over
``FEATHER`` beyond the outer lip edges and towards the mouth corners; both maps send the outer
lip landmarks to the same place, so the blend shows no seam.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from model.render.mouth_geometry import MouthFrame, inner_gap, lip_box

FEATHER = 0.08  # iod: the lip map fades into the spline's over this distance beyond the lips
OPENING_SQUEEZE = 1.0  # a smaller target opening samples this multiple of its height
LIP_INSET = 0.01  # iod: source lip edges taken this far inside the lips (dlib's points wander)
CORNER_FADE = 0.8  # share of the half-width from which the lip map fades out to the corners
MAX_CORNER_STRETCH = 3.0  # between the inner and outer corners, a stretches at most this much
MIN_GAP = 1.0  # px: portraits with a smaller inner-lip gap need no lip map
EDGE_COLUMNS = 21  # columns across the mouth where the portrait's lip edges are searched
EDGE_REACH = 0.1  # iod: how far beyond dlib's inner-lip point the search may go
_LESS_RED = 0.6  # not lip: a* below this share of the lip's median a* ...
_DARKER = 0.4  # ... or L below this share of the lip's median L


def _walk(profile: np.ndarray, lip_a: float, lip_l: float) -> np.ndarray:
    """(C,) index of the first non-lip sample along each row of a (C, S, 3) profile; -1 if
    the walk starts off the lip (nothing to trust) or never leaves it."""
    off = (profile[..., 1] < _LESS_RED * lip_a) | (profile[..., 0] < _DARKER * lip_l)
    first = np.argmax(off, axis=1)
    return np.where(off[:, 0] | ~off.any(axis=1), -1, first)


def _edge(
    lab: np.ndarray, frame: MouthFrame, a: np.ndarray, start: np.ndarray, stop: np.ndarray
) -> np.ndarray:
    """(C,) b where the lip ends on the way from start (inside the lip) to stop, per column a;
    NaN where no clear edge is found."""
    steps = np.linspace(0.0, 1.0, 48, dtype=np.float32)
    path = start[:, None] + (stop - start)[:, None] * steps[None, :]  # (C, S) b values
    x, y = frame.to_xy(np.broadcast_to(a[:, None], path.shape), path)
    profile = cv2.remap(lab, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lip = profile[:, :4].reshape(-1, 3)  # the walk's first samples: the lip's own colour
    idx = _walk(profile, float(np.median(lip[:, 1])), float(np.median(lip[:, 0])))
    return np.where(idx > 0, path[np.arange(len(a)), np.maximum(idx, 0)], np.nan)


def find_lip_edges(image: np.ndarray, frame: MouthFrame, iod: float) -> MouthFrame:
    """``frame`` with its inner lip curves moved onto the portrait's visible lip edges.

    image: (H, W, 3) uint8 RGB portrait; frame: its landmarks' mouth frame. Columns where no
    clear edge is found keep dlib's curve; the edges are then cleaned of lone outliers and
    smoothed along the mouth.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 1:] -= 128.0
    a = np.linspace(-0.85, 0.85, EDGE_COLUMNS, dtype=np.float32) * frame.half
    ou, iu, il, ol = frame.outer_upper(a), frame.upper(a), frame.lower(a), frame.outer_lower(a)
    mid = (iu + il) / 2.0
    reach = EDGE_REACH * iod
    upper = _edge(lab, frame, a, ou + 0.4 * (iu - ou), np.minimum(iu + reach, mid))
    lower = _edge(lab, frame, a, ol - 0.4 * (ol - il), np.maximum(il - reach, mid))
    corners = np.array([[-frame.half, 0.0], [frame.half, 0.0]], np.float32)
    curves = []
    for found, dlib in ((upper, iu), (lower, il)):
        edge = np.where(np.isfinite(found), found, dlib).astype(np.float32)
        edge = cv2.medianBlur(edge[None], 5)[0]
        edge = np.convolve(np.pad(edge, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
        curves.append(np.concatenate([corners[:1], np.stack([a, edge], 1), corners[1:]]))
    return replace(frame, upper_curve=curves[0], lower_curve=curves[1])


def _piecewise(v: np.ndarray, knots_in: list[np.ndarray], knots_out: list[np.ndarray]):
    """Piecewise-linear map of v through increasing per-pixel knots; slope 1 beyond the ends."""
    out = knots_out[0] + (v - knots_in[0])
    for k in range(len(knots_in) - 1):
        p0, p1, q0, q1 = knots_in[k], knots_in[k + 1], knots_out[k], knots_out[k + 1]
        span = p1 - p0
        t = (v - p0) / np.maximum(span, 1e-3)
        seg = np.where(span > 1e-3, q0 + t * (q1 - q0), q0)
        out = np.where(v >= p0, seg, out)
    return np.where(v > knots_in[-1], knots_out[-1] + (v - knots_in[-1]), out)


def _lip_weight(tgt: MouthFrame, a: np.ndarray, b: np.ndarray, feather: float) -> np.ndarray:
    """(h, w) share of the lip map: 1 inside the outer lip contour, fading over ``feather``
    beyond it; towards the corners the contours fold back on themselves (they are no longer
    functions of a), so from CORNER_FADE x half on the map hands over to the spline."""
    beyond = np.maximum(np.maximum(tgt.outer_upper(a) - b, b - tgt.outer_lower(a)), 0.0)
    end = tgt.outer_end(a)
    start = CORNER_FADE * tgt.half
    along = np.clip((end - np.abs(a)) / np.maximum(end - start, 1.0), 0.0, 1.0)
    return np.clip(1.0 - beyond / feather, 0.0, 1.0) * along * along * (3.0 - 2.0 * along)


class LipMap:
    """Rebuilds the backward map inside the lips (see the module docstring)."""

    def __init__(self, image: np.ndarray, source: np.ndarray, iod: float) -> None:
        source = np.asarray(source, dtype=np.float64)
        self._iod = iod
        self.active = inner_gap(source) > MIN_GAP
        frame = MouthFrame.of(source)
        self._src = find_lip_edges(image, frame, iod) if self.active else frame

    def refine(self, mapping: np.ndarray, target: np.ndarray, tgt: MouthFrame) -> None:
        """Replace ``mapping`` (512, 512, 2) float32, source px per output px, in place inside
        the lips of the (68, 2) target landmarks, whose mouth frame is ``tgt``."""
        if not self.active:
            return
        feather = FEATHER * self._iod
        y0, y1, x0, x1 = lip_box(target, mapping.shape, feather + 1.0)
        a, b = tgt.coords(
            *np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        )
        a_src = self._source_a(a, tgt)
        xs, ys = self._src.to_xy(a_src, self._source_b(a, b, a_src, tgt))
        w = _lip_weight(tgt, a, b, feather)[:, :, None]
        roi = mapping[y0:y1, x0:x1]
        roi[...] = roi * (1.0 - w) + np.dstack([xs, ys]) * w

    def _source_a(self, a: np.ndarray, tgt: MouthFrame) -> np.ndarray:
        """Target a -> source a, per side: inner corners onto inner corners, outer corners onto
        outer corners (the stretch between them capped at MAX_CORNER_STRETCH: a rounded mouth
        draws its outer corner almost onto the inner one), slope 1 beyond."""
        s = self._src
        mag = np.abs(a)
        t_out, s_out = tgt.outer_end(a), s.outer_end(a)
        slope = (s_out - s.half) / np.maximum(t_out - tgt.half, 1e-3)
        slope = np.minimum(slope, MAX_CORNER_STRETCH)
        corner = s.half + (np.minimum(mag, t_out) - tgt.half) * slope
        beyond = np.maximum(mag - t_out, 0.0)
        out = np.where(mag <= tgt.half, mag * (s.half / tgt.half), corner + beyond)
        return (np.sign(a) * out).astype(np.float32)

    def _source_b(
        self, a: np.ndarray, b: np.ndarray, a_src: np.ndarray, tgt: MouthFrame
    ) -> np.ndarray:
        s = self._src
        inset = LIP_INSET * self._iod
        ou_t = tgt.outer_upper(a)
        iu_t = np.maximum(tgt.upper(a), ou_t + 0.5)
        il_t = np.maximum(tgt.lower(a), iu_t)
        ol_t = np.maximum(tgt.outer_lower(a), il_t + 0.5)
        ou_s, ol_s = s.outer_upper(a_src), s.outer_lower(a_src)
        iu_s = np.maximum(s.upper(a_src) - inset, ou_s + 0.5)
        il_s = np.minimum(s.lower(a_src) + inset, ol_s - 0.5)
        il_s = np.maximum(il_s, iu_s)
        # The opening: the middle of the portrait's, at most OPENING_SQUEEZE times as tall.
        mid = (iu_s + il_s) / 2.0
        half = np.minimum((il_s - iu_s) / 2.0, OPENING_SQUEEZE * (il_t - iu_t) / 2.0)
        return _piecewise(
            b,
            [ou_t, iu_t, iu_t, il_t, il_t, ol_t],
            [ou_s, iu_s, mid - half, mid + half, il_s, ol_s],
        ).astype(np.float32)
