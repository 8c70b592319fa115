"""The dlib/iBUG 68-point landmark layout, a generic 3-D face and head-pose estimation.

Index ranges follow the iBUG 300-W annotation. "Right" and "left" are the *subject's*: the
subject's right eye (``RIGHT_EYE``, 36..41) is on the image's left.

``FACE_TEMPLATE_3D`` is a generic, left-right symmetric face in inter-ocular units (the distance
between the eye centres is 1). Axes match the image: x to the image's right, y down, z away from
the viewer (into the head), origin midway between the eye centres. Its x/y are the mirrored mean of
dlib landmarks on a few frontal photographs; its depths are hand-set from typical facial
anthropometry (nose tip ~0.45 in front of the eye corners, ear-level jaw ~0.9 behind). It is only
meant to be good enough for ``cv2.solvePnP``.
"""

from __future__ import annotations

import cv2
import numpy as np

N_LANDMARKS = 68

JAW = slice(0, 17)
RIGHT_BROW = slice(17, 22)
LEFT_BROW = slice(22, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_TIP = slice(31, 36)  # lower nose: alae and the base of the nose, 33 = subnasale
RIGHT_EYE = slice(36, 42)  # subject's right = image left
LEFT_EYE = slice(42, 48)  # subject's left = image right
MOUTH_OUTER = slice(48, 60)
MOUTH_INNER = slice(60, 68)

REGIONS: dict[str, slice] = {
    "jaw": JAW,
    "right_brow": RIGHT_BROW,
    "left_brow": LEFT_BROW,
    "nose_bridge": NOSE_BRIDGE,
    "nose_tip": NOSE_TIP,
    "right_eye": RIGHT_EYE,
    "left_eye": LEFT_EYE,
    "mouth_outer": MOUTH_OUTER,
    "mouth_inner": MOUTH_INNER,
}

# Index of each point's mirror image (left <-> right), e.g. to flip landmarks horizontally.
MIRROR_INDEX = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65],
    dtype=np.int64,
)


def region_indices(region: slice) -> np.ndarray:
    """(n,) int64 indices of a region slice, for fancy indexing."""
    return np.arange(region.start, region.stop, dtype=np.int64)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (2,) of the image-left (subject's right) and image-right eye of (68, 2) landmarks."""
    return landmarks[RIGHT_EYE].mean(axis=0), landmarks[LEFT_EYE].mean(axis=0)


def _half_template() -> np.ndarray:
    """(68, 3) template; only the image-left half and the midline are written out."""
    # fmt: off
    points = {  # index: (x, y, z) for the image-left side and the midline
        0: (-1.15, 0.10, 0.90), 1: (-1.13, 0.40, 0.74), 2: (-1.09, 0.71, 0.59),
        3: (-1.04, 1.01, 0.44), 4: (-0.93, 1.29, 0.30), 5: (-0.76, 1.55, 0.18),
        6: (-0.55, 1.76, 0.06), 7: (-0.30, 1.93, -0.07), 8: (0.00, 1.97, -0.15),
        17: (-0.92, -0.11, 0.15), 18: (-0.78, -0.27, -0.02), 19: (-0.59, -0.33, -0.13),
        20: (-0.38, -0.32, -0.19), 21: (-0.18, -0.26, -0.20),
        27: (0.00, -0.04, -0.16), 28: (0.00, 0.15, -0.25), 29: (0.00, 0.35, -0.35),
        30: (0.00, 0.55, -0.46),
        31: (-0.25, 0.69, -0.18), 32: (-0.13, 0.72, -0.27), 33: (0.00, 0.75, -0.32),
        36: (-0.69, 0.01, 0.10), 37: (-0.57, -0.07, -0.04), 38: (-0.43, -0.07, -0.07),
        39: (-0.30, 0.03, -0.05), 40: (-0.44, 0.05, -0.06), 41: (-0.58, 0.05, -0.03),
        48: (-0.50, 1.06, -0.06), 49: (-0.34, 0.97, -0.20), 50: (-0.15, 0.94, -0.29),
        51: (0.00, 0.97, -0.31), 59: (-0.34, 1.26, -0.18), 58: (-0.15, 1.35, -0.26),
        57: (0.00, 1.38, -0.28),
        # inner lips of a closed mouth: upper and lower lip meet at the same line
        60: (-0.43, 1.08, -0.10), 61: (-0.14, 1.10, -0.26), 62: (0.00, 1.11, -0.28),
        67: (-0.14, 1.10, -0.26), 66: (0.00, 1.11, -0.28),
    }
    # fmt: on
    template = np.full((N_LANDMARKS, 3), np.nan)
    for i, p in points.items():
        template[i] = p
    for i in range(N_LANDMARKS):
        m = MIRROR_INDEX[i]
        if np.isnan(template[i, 0]):
            template[i] = template[m] * (-1.0, 1.0, 1.0)
    return template


FACE_TEMPLATE_3D: np.ndarray = _half_template().astype(np.float32)
FACE_TEMPLATE_3D.setflags(write=False)

# Points that barely move with expression (jaw line above the mouth, nose, eyes): the mouth,
# chin and brows would read speech or surprise as a nod.
POSE_POINTS = np.r_[0:5, 12:17, 27:36, 36:48].astype(np.int64)


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation of the template for the given angles (``model.motion.space`` signs).

    R = Rz(roll) @ Rx(pitch) @ Ry(-yaw) in the image-aligned frame (x right, y down, z away):
    + yaw brings the nose tip towards +x, + pitch brings it towards +y (chin down), + roll turns
    the face clockwise on screen.
    """
    cy, sy = np.cos(-yaw), np.sin(-yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rz = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return rz @ rx @ ry


def angles_from_rotation(r: np.ndarray) -> np.ndarray:
    """Inverse of ``rotation_matrix``: (3,) yaw, pitch, roll from a (3, 3) rotation."""
    pitch = np.arcsin(np.clip(r[2, 1], -1.0, 1.0))
    yaw = -np.arctan2(-r[2, 0], r[2, 2])
    roll = np.arctan2(-r[0, 1], r[1, 1])
    return np.array([yaw, pitch, roll], dtype=np.float64)


def camera_matrix(image_size: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """(3, 3) pinhole guess for an (height, width) image: focal = long side.

    The principal point is put on the face (``centre``, its eye midpoint) rather than the image
    centre: portraits are usually cropped, so the true optical axis is unknown, and the pose we
    want is the face's turn relative to the line of sight — a face looking into the lens reads
    0 wherever it sits in the frame.
    """
    f = float(max(image_size))
    return np.array([[f, 0.0, centre[0]], [0.0, f, centre[1]], [0.0, 0.0, 1.0]])


def estimate_head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(3,) float32 yaw, pitch, roll in radians of a face with (68, 2) landmarks.

    image_size is (height, width) of the image the landmarks are in. Signs follow
    ``model.motion.space``; a face looking into the lens reads ~0 wherever it sits in the
    frame (the rotation is relative to the line of sight to the eye midpoint). ~0.2 ms.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2) or not np.all(np.isfinite(pts)):
        raise ValueError(f"landmarks must be finite ({N_LANDMARKS}, 2), got {pts.shape}")
    left, right = eye_centres(pts)
    mid = (left + right) / 2.0
    k = camera_matrix(image_size, (float(mid[0]), float(mid[1])))
    # Start from a frontal face on the axis at the distance its eye spacing implies, so the
    # iterative solver never flips to the mirror solution behind the camera.
    iod = max(float(np.linalg.norm(right - left)), 1e-3)
    tvec = np.array([0.0, 0.0, k[0, 0] / iod])
    rvec = np.zeros(3)
    obj = FACE_TEMPLATE_3D[POSE_POINTS].astype(np.float64)
    img = pts[POSE_POINTS]
    ok, rvec, tvec = cv2.solvePnP(
        obj, img, k, None, rvec.reshape(3, 1), tvec.reshape(3, 1), True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return np.zeros(3, dtype=np.float32)
    r, _ = cv2.Rodrigues(rvec)
    return angles_from_rotation(r).astype(np.float32)


def project_template(
    yaw: float,
    pitch: float,
    roll: float,
    image_size: tuple[int, int],
    centre: tuple[float, float],
    interocular: float,
) -> np.ndarray:
    """(68, 2) float32 landmarks of the template posed and seen by ``camera_matrix``.

    centre is the (x, y) pixel of the eye midpoint and interocular the eye spacing in pixels at
    zero rotation. Useful to synthesise poses in tests and for the renderer's sanity checks.
    """
    k = camera_matrix(image_size, centre)
    t = np.array([0.0, 0.0, k[0, 0] / interocular])
    rvec, _ = cv2.Rodrigues(rotation_matrix(yaw, pitch, roll))
    pts, _ = cv2.projectPoints(FACE_TEMPLATE_3D.astype(np.float64), rvec, t, k, None)
    return pts.reshape(N_LANDMARKS, 2).astype(np.float32)
