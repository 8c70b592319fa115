"""Render speed of the warp renderer on the bundled sample portrait.

    .venv/bin/python benchmarks/render_speed.py [--frames 300] [--portrait PATH]

Prints ms for bind and ms/frame (mean, median, p95) over random plausible motions; no
assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.face.portrait import analyse_portrait  # noqa: E402
from model.motion.space import FIELD_LIMITS, Field, clip_motion  # noqa: E402
from model.render.warp import WarpRenderer  # noqa: E402


def plausible_motions(n: int, seed: int = 0) -> np.ndarray:
    """(n, 16) smooth random motions: talking mouth, small head moves, occasional blinks."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 25.0
    span = (FIELD_LIMITS[:, 1] - FIELD_LIMITS[:, 0]) / 2.0
    phases = rng.uniform(0, 2 * np.pi, (1, 16))
    freqs = rng.uniform(0.2, 3.0, (1, 16))
    m = 0.4 * span * np.sin(2 * np.pi * freqs * t[:, None] + phases)
    m[:, int(Field.JAW_OPEN)] = np.abs(np.sin(2 * np.pi * 3.0 * t)) * 0.7
    blink = (rng.random(n) < 0.08).astype(np.float32)
    m[:, int(Field.BLINK_LEFT)] = m[:, int(Field.BLINK_RIGHT)] = blink
    return clip_motion(m)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--portrait", default=str(ROOT / "assets/samples/portrait.png"))
    args = parser.parse_args()
    bgr = cv2.imread(args.portrait)
    portrait = analyse_portrait(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    renderer = WarpRenderer()
    t0 = time.perf_counter()
    for _ in range(5):
        bound = renderer.bind(portrait)
    bind_ms = (time.perf_counter() - t0) / 5 * 1e3
    motions = plausible_motions(args.frames)
    bound.render(motions[0])  # warm-up
    times = np.empty(len(motions))
    for i, m in enumerate(motions):
        t = time.perf_counter()
        bound.render(m)
        times[i] = time.perf_counter() - t
    ms = times * 1e3
    print(f"cv2 threads: {cv2.getNumThreads()}")
    print(f"bind: {bind_ms:.1f} ms")
    print(
        f"render: {ms.mean():.2f} ms/frame mean, {np.median(ms):.2f} median, "
        f"{np.percentile(ms, 95):.2f} p95 over {len(ms)} frames ({1e3 / ms.mean():.0f} fps)"
    )


if __name__ == "__main__":
    main()
