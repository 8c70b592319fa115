"""The release encode and the attacks of the robustness benchmark, with PyAV + numpy/cv2.

Every attack starts from the *released* file (H.264 yuv420p, libx264 CRF 20 veryfast, 25 fps),
decodes it, transforms the frames and re-encodes with PyAV (H.264 CRF 23 unless the attack names
another codec or quality), then the detector sees the decoded result: one lossy step per attack.
The chained attack is the issue's three operations in one generation: crop 5 % per side (kept at
the cropped size), brightness +20 % of full scale, encoded as H.264 CRF 28. A harsher extra row
re-encodes that result at CRF 28 once more (two lossy generations after the release), to show
the margin. Files are in memory (BytesIO), never on disk.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

FPS = 25


def encode(frames: list[np.ndarray], codec: str = "libx264", crf: int = 20, fps: int = FPS,
           preset: str = "veryfast") -> bytes:
    """RGB frames -> MP4 bytes (yuv420p)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as box:
        options = {"crf": str(crf), "preset": preset}
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
        stream = box.add_stream(codec, rate=fps, options=options)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        for frame in frames:
            box.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        box.mux(stream.encode())
    return buf.getvalue()


def decode(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


def release(frames: list[np.ndarray]) -> bytes:
    """How the product ships a clip: H.264 CRF 20 veryfast, 25 fps."""
    return encode(frames, "libx264", 20)


def crop_sides(frames: list[np.ndarray], share: float = 0.05) -> list[np.ndarray]:
    """Cut ``share`` off every side and keep the cropped size (512 -> 462, even for 4:2:0)."""
    h, w = frames[0].shape[:2]
    my, mx = int(round(h * share)), int(round(w * share))
    return [np.ascontiguousarray(f[my : h - my, mx : w - mx]) for f in frames]


def resize_half_and_back(frames: list[np.ndarray]) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    return [cv2.resize(cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (w, h),
                       interpolation=cv2.INTER_LINEAR) for f in frames]


def resample_fps(frames: list[np.ndarray], src: int = 25, dst: int = 30) -> list[np.ndarray]:
    """Output frame k (shown at k/dst) takes the input frame on screen at that time."""
    count = int(len(frames) * dst / src)
    return [frames[min(len(frames) - 1, int(k * src / dst + 1e-9))] for k in range(count)]


def trim_middle(frames: list[np.ndarray], seconds: float = 3.0, fps: int = FPS) -> list[np.ndarray]:
    n = int(seconds * fps)
    start = max(0, (len(frames) - n) // 2)
    return frames[start : start + n]


def brighten(frames: list[np.ndarray], levels: int = 51) -> list[np.ndarray]:
    """+20 % of full scale on every channel, clipping highlights."""
    return [cv2.add(f, np.full_like(f, levels)) for f in frames]


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[bytes], list[np.ndarray]]  # released MP4 bytes -> frames the detector sees


def _reencode(transform, codec="libx264", crf=23, fps=FPS):
    return lambda data: decode(encode(transform(decode(data)), codec, crf, fps))


ATTACKS = (
    Attack("released (H.264 CRF 20)", decode),
    Attack("H.264 CRF 23", _reencode(lambda f: f, crf=23)),
    Attack("H.264 CRF 28", _reencode(lambda f: f, crf=28)),
    Attack("H.264 CRF 35", _reencode(lambda f: f, crf=35)),
    Attack("H.265 CRF 28", _reencode(lambda f: f, "libx265", 28)),
    Attack("resize 0.5x and back", _reencode(resize_half_and_back)),
    Attack("crop 5 % per side", _reencode(crop_sides)),
    Attack("25 -> 30 fps", _reencode(resample_fps, fps=30)),
    Attack("trim to 3 s", _reencode(trim_middle)),
    Attack("crop + brightness +51 + H.264 CRF 28 (chained)",
           _reencode(lambda f: brighten(crop_sides(f)), crf=28)),
    Attack("chained, then re-encoded at CRF 28 again (harsher than asked)",
           _reencode(lambda f: decode(encode(brighten(crop_sides(f)), crf=28)), crf=28)),
)
