"""The warp renderer: motion + portrait -> frame with one dense backward warp.

Per frame::

    motion (16,)
      -> eye stage edits a working copy of the portrait (gaze: iris moved; blink: lid slid down)
      -> landmark targets (``model.motion.basis``; blinks excluded, the eye stage drew them)
      -> anchors: head outline / forehead follow the head pose, upper neck half of it,
         an outer ring and the frame corners stay still
      -> one thin-plate spline through all of them, solved at the *target* positions for the
         backward displacement (so no inversion), evaluated on a GRID x GRID lattice
      -> upsampled to 512 x 512, zeroed far from the head; inside the lips replaced by the lip
         map (``model.render.lips``) when the portrait's mouth is open
      -> ONE ``cv2.remap``
      -> mouth stage paints the mouth interior / pressed lips in the target frame

Head rotation moves the anchors with a generic depth (the head's silhouette lies about as far
back as the pivot, so it barely moves under yaw while the nose swings), so the whole head region
moves rigidly-ish and the background between the head and the outer ring takes up the slack.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.face.types import FRAME_SIZE, Portrait
from model.motion.basis import LANDMARK_DEPTH, FaceFrame, apply_pose, expression_offsets
from model.motion.space import MOTION_DIM, Field, clip_motion
from model.render import tps
from model.render.eyes import EyeStage
from model.render.lips import LipMap
from model.render.mouth import MouthStage, inner_gap
from model.render.mouth_geometry import MouthFrame

# Fields that move landmarks through the warp (blinks and gaze are drawn by the eye stage).
_WARPED_FIELDS = np.array(
    [
        int(f)
        for f in Field
        if f not in (Field.BLINK_LEFT, Field.BLINK_RIGHT, Field.GAZE_X, Field.GAZE_Y)
    ]
)


@dataclass(frozen=True)
class WarpSettings:
    """grid: lattice size the spline is evaluated on (upsampled to the frame)."""

    grid: int = 64


@dataclass(frozen=True)
class HeadRig:
    """Extra control points around the face, in face units.

    points: (K, 2); depth: (K,) z away from the viewer; follow: (K,) share of the head pose
    each one takes (1 head, 0.4 upper neck, 0 still background).
    """

    points: np.ndarray
    depth: np.ndarray
    follow: np.ndarray


# Still anchors on this ellipse (centre x, y, semi-axes, face units): beyond it nothing moves.
_RING = (0.0, 0.5, 2.4, 2.8)


def _ellipse(cx: float, cy: float, ax: float, ay: float, angles_deg: np.ndarray) -> np.ndarray:
    t = np.radians(angles_deg)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)


def head_rig(frame: FaceFrame) -> HeadRig:
    """The anchor layout for a face (positions relative to the eye midpoint, unit = iod)."""
    # Skull outline from the jaw angle over the top (image y down: -90° is the crown).
    outline = _ellipse(0.0, 0.3, 1.45, 2.0, np.arange(-180.0, 1.0, 20.0))
    outline = outline[outline[:, 1] < 1.1]
    inner = np.array(
        [[0.0, -0.9], [-0.6, -0.8], [0.6, -0.8], [0.0, -1.45], [-1.1, -0.4], [1.1, -0.4]]
    )
    inner_depth = np.array([-0.1, 0.1, 0.1, 0.3, 0.6, 0.6])
    neck = np.array([[-0.6, 2.9], [0.0, 3.0], [0.6, 2.9]])
    ring = _ellipse(*_RING, np.arange(0.0, 360.0, 22.5))
    corners = frame.to_face(
        np.array([[0, 0], [FRAME_SIZE, 0], [0, FRAME_SIZE], [FRAME_SIZE, FRAME_SIZE]], float)
    )
    points = np.concatenate([outline, inner, neck, ring, corners])
    depth = np.concatenate(
        [np.full(len(outline), 1.0), inner_depth, np.full(3, 0.8), np.zeros(len(ring) + 4)]
    )
    follow = np.concatenate(
        [np.ones(len(outline) + len(inner)), np.full(3, 0.4), np.zeros(len(ring) + 4)]
    )
    return HeadRig(points=points, depth=depth, follow=follow)


def _still_mask(frame: FaceFrame, lattice: np.ndarray) -> np.ndarray:
    """(G,) 1 inside the anchor ring, fading to 0 a little beyond it: far pixels never move."""
    f = frame.to_face(lattice)
    cx, cy, ax, ay = _RING
    r = np.hypot((f[:, 0] - cx) / ax, (f[:, 1] - cy) / ay)
    return np.clip((1.15 - r) / 0.15, 0.0, 1.0).astype(np.float32)


_INNER_PAIRS = np.array([[61, 67], [62, 66], [63, 65]])


def _merge_closing_lips(values: np.ndarray, targets: np.ndarray, source: np.ndarray) -> None:
    """Pull the backward values of inner-lip pairs together as they close beyond the portrait.

    Lips closing over an open mouth put two control points (almost) on one spot with different
    source positions; the spline would ring between them. Merging in proportion to the closure
    keeps the value difference below the point spacing; the mouth stage then paints lips over
    whatever of the portrait's mouth opening the seam still samples.
    """
    up, lo = _INNER_PAIRS[:, 0], _INNER_PAIRS[:, 1]
    g_s = np.linalg.norm(source[lo] - source[up], axis=1)
    g_t = np.linalg.norm(targets[lo] - targets[up], axis=1)
    w = np.clip((g_s - g_t) / np.maximum(g_s, 1e-6), 0.0, 1.0)[:, None]
    mean = (values[up] + values[lo]) / 2.0
    values[up] += w * (mean - values[up])
    values[lo] += w * (mean - values[lo])


class BoundWarpRenderer:
    """One portrait bound to the warp renderer (see the module docstring for the steps)."""

    def __init__(self, portrait: Portrait, settings: WarpSettings) -> None:
        image = np.ascontiguousarray(portrait.image)
        if image.shape != (FRAME_SIZE, FRAME_SIZE, 3) or image.dtype != np.uint8:
            raise ValueError(f"portrait image must be ({FRAME_SIZE}, {FRAME_SIZE}, 3) uint8")
        self._image = image
        self._work = image.copy()
        self._source = np.asarray(portrait.landmarks, dtype=np.float64)
        self._frame = FaceFrame.from_landmarks(self._source)
        self._face = self._frame.to_face(self._source)
        self._centre = self._face.mean(axis=0)
        self._rig = head_rig(self._frame)
        self._rig_px = self._frame.to_image(self._rig.points)
        n = settings.grid
        step = FRAME_SIZE / n
        # Lattice at the centres cv2.resize maps onto (x_big = (x + 0.5) * step - 0.5).
        coords = (np.arange(n) + 0.5) * step - 0.5
        gx, gy = np.meshgrid(coords, coords)
        self._lattice = np.stack([gx.ravel(), gy.ravel()], axis=1)
        self._still = _still_mask(self._frame, self._lattice)[:, None]
        self._grid = n
        base_x, base_y = np.meshgrid(
            np.arange(FRAME_SIZE, dtype=np.float32), np.arange(FRAME_SIZE, dtype=np.float32)
        )
        self._base = np.dstack([base_x, base_y])
        self._eyes = EyeStage.bind(image, self._source, self._frame)
        self._mouth = MouthStage.bind(image, self._source, self._frame)
        self._lips = LipMap(image, self._source, self._frame.unit)
        # A still motion leaves the image untouched only if the photo's lips already meet (the
        # mouth fields are absolute: a still motion closes a parted mouth).
        self._lips_meet = inner_gap(self._source) < 0.01 * self._frame.unit

    def target_landmarks(self, motion: np.ndarray) -> np.ndarray:
        """(68, 2) px where the rendered frame puts the landmarks (blinks included)."""
        m = clip_motion(np.asarray(motion, dtype=np.float32).reshape(MOTION_DIM))
        return self._targets(m, blinks=True)

    def _targets(self, m: np.ndarray, blinks: bool) -> np.ndarray:
        if not blinks:
            m = m.copy()
            m[[int(Field.BLINK_LEFT), int(Field.BLINK_RIGHT)]] = 0.0
        moved = self._face + expression_offsets(self._face, m)[0]
        return self._frame.to_image(apply_pose(moved, LANDMARK_DEPTH, m, self._centre)[0])

    def _rig_targets(self, m: np.ndarray) -> np.ndarray:
        posed = apply_pose(self._rig.points, self._rig.depth, m, self._centre)[0]
        moved = self._rig.points + self._rig.follow[:, None] * (posed - self._rig.points)
        return self._frame.to_image(moved)

    def backward_map(
        self, m: np.ndarray, targets: np.ndarray, mouth: MouthFrame | None = None
    ) -> np.ndarray:
        """(H, W, 2) float32 source pixel of every output pixel. mouth: the targets' mouth
        frame (made here if not given and the lip map needs it)."""
        ctrl = np.concatenate([targets, self._rig_targets(m)])
        values = np.concatenate([self._source, self._rig_px]) - ctrl
        _merge_closing_lips(values, targets, self._source)
        weights, affine = tps.solve(ctrl, values)
        field = tps.evaluate(self._lattice, ctrl, weights, affine) * self._still
        field = field.reshape(self._grid, self._grid, 2)
        mapping = (
            cv2.resize(field, (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_LINEAR) + self._base
        )
        if self._lips.active:
            self._lips.refine(mapping, targets, mouth or MouthFrame.of(targets))
        return mapping

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(16,) motion -> (512, 512, 3) uint8 RGB."""
        m = clip_motion(np.asarray(motion, dtype=np.float32).reshape(MOTION_DIM))
        self._eyes.apply(self._work, self._image, m)
        targets = self._targets(m, blinks=False)
        if self._lips_meet and not np.any(m[_WARPED_FIELDS]):
            return self._work.copy()  # only the eyes changed: no warp needed
        mouth = MouthFrame.of(targets) if self._lips.active else None  # lip map + mouth stage
        mapping = self.backward_map(m, targets, mouth)
        out = cv2.remap(
            self._work, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        # Blinks move only lid points, so the blink-free targets serve the mouth as they are.
        self._mouth.apply(out, self._work, targets, mouth)
        return out


class WarpRenderer:
    """Landmark-driven dense warp renderer (``model.render.base.Renderer``)."""

    def __init__(self, settings: WarpSettings = WarpSettings()) -> None:
        self.settings = settings

    def bind(self, portrait: Portrait) -> BoundWarpRenderer:
        return BoundWarpRenderer(portrait, self.settings)
