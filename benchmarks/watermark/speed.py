"""Speed: embed ms per 512² frame on one core, and detection seconds for a 10 s clip.

OpenCV is pinned to one thread (numpy's FFT is single-threaded). Decoding the MP4 is not
counted: frames are decoded beforehand, as the issue's figure is for detection alone.

    python -m benchmarks.watermark.speed
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from benchmarks.watermark.attacks import decode, release
from benchmarks.watermark.clips import clip_specs, load_clip
from benchmarks.watermark.report import bench_key, machine, table, write
from policy.watermark import WatermarkDetector, WatermarkEmbedder, WatermarkPayload


def main() -> None:
    cv2.setNumThreads(1)
    key, payload = bench_key("speed"), WatermarkPayload(0xABCDEF, 1)
    frames = load_clip(clip_specs(1, 10.0, offset=300)[0])[:250]
    embedder = WatermarkEmbedder(key, payload)
    embedder.embed(frames[0])  # warm caches
    embed_ms = []
    for _ in range(3):
        start = time.perf_counter()
        marked = [embedder.embed(f) for f in frames]
        embed_ms.append((time.perf_counter() - start) / len(frames) * 1000)
    released = decode(release(marked))
    detect_s = []
    for _ in range(3):
        start = time.perf_counter()
        detector = WatermarkDetector(key)
        for frame in released:
            detector.add_frame(frame)
        result = detector.result()
        detect_s.append(time.perf_counter() - start)
    assert result.found and result.payload == payload, "speed clip must decode"
    rows = [["embed, ms per 512² frame (1 thread)", f"{np.median(embed_ms):.2f}",
             f"{min(embed_ms):.2f}", "<= 10"],
            [f"detect, s per 10 s clip ({len(released)} frames)", f"{np.median(detect_s):.3f}",
             f"{min(detect_s):.3f}", "<= 1"]]
    md = "\n".join([
        "# Watermark speed", "",
        f"`python -m benchmarks.watermark.speed` on {machine()}; cv2 threads = 1; median / best "
        "of 3 runs over a 250-frame 512² generated clip (the machine is shared: ±50 %).", "",
        table(["what", "median", "best", "target"], rows),
    ])
    print(md)
    write("speed", md, {"embed_ms": embed_ms, "detect_s": detect_s, "frames": len(released)})


if __name__ == "__main__":
    main()
