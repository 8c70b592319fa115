"""Evaluate a motion checkpoint end to end and write its report.

    .venv/bin/python -m benchmarks.model_eval [--weights model/weights/default]
        [--out reports/default_model] [--portraits sample obama obama2 biden] [--speed-only]

Held-out espeak voices on four portraits; the diffusion model against the procedural generator
that made its training targets; mismatched audio, several seeds, every control, and speed.
Prints the table and writes ``evaluation.md``, ``evaluation.json`` and contact sheets into
``--out``. Takes about 25 minutes on a 2-core CPU. Speed is wall-clock: ``--speed-only``
re-measures just those rows on a quiet machine and merges them into the existing report.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.model_eval.experiments import (
    run_controls,
    run_grid,
    run_seeds,
    run_speed,
)
from benchmarks.model_eval.inputs import EVAL_PORTRAIT_LIMITS, PORTRAITS, UTTERANCES, ROOT, speak
from benchmarks.model_eval.report import contact_sheet, summarise, write_markdown
from model.diffusion.checkpoint import DEFAULT_WEIGHTS_DIR
from model.pipeline import TalkingHeadPipeline
from service.media.image import load_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "reports/default_model")
    parser.add_argument("--portraits", nargs="+", default=list(PORTRAITS))
    parser.add_argument("--utterances", type=int, default=len(UTTERANCES))
    parser.add_argument("--speed-only", action="store_true",
                        help="re-measure only the speed rows (e.g. on a quiet machine) and merge "
                             "them into the existing evaluation.json/md in --out")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads (1 when other work shares the cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pipeline = TalkingHeadPipeline.from_pretrained(args.weights, device="cpu",
                                                   portrait_limits=EVAL_PORTRAIT_LIMITS)
    utterances = [speak(spec) for spec in UTTERANCES[: args.utterances]]
    images = {name: load_image(PORTRAITS[name]) for name in args.portraits}
    portraits = {name: pipeline.prepare(image) for name, image in images.items()}
    first = args.portraits[0]

    print("speed ...", flush=True)
    speed = run_speed(pipeline, images[first], utterances)
    if args.speed_only:
        _merge_speed(args.out, speed)
        return
    print("grid ...", flush=True)
    grid, showcase = run_grid(pipeline, portraits, utterances)
    print("seeds ...", flush=True)
    seeds = run_seeds(pipeline, portraits[first], utterances)
    print("controls ...", flush=True)
    controls = run_controls(pipeline, portraits[first], utterances[1 % len(utterances)])

    summary = {kind: summarise(clips) for kind, clips in grid.items()}
    results = {
        "weights": str(args.weights.resolve().relative_to(ROOT)
                       if args.weights.resolve().is_relative_to(ROOT) else args.weights),
        "portraits": args.portraits,
        "utterances": [asdict(u.spec) for u in utterances],
        "summary": summary,
        "clips": {kind: [asdict(c) for c in clips] for kind, clips in grid.items()},
        "seeds": asdict(seeds),
        "controls": [asdict(c) for c in controls],
        "speed": asdict(speed),
        "minutes": (time.perf_counter() - started) / 60,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "evaluation.json").write_text(json.dumps(_finite(results), indent=1))
    for name, clip in showcase.items():
        cv2.imwrite(str(args.out / f"sheet_{name}.jpg"), contact_sheet(clip.stills),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
    markdown = write_markdown(results)
    (args.out / "evaluation.md").write_text(markdown)
    print(markdown)


def _merge_speed(out: Path, speed) -> None:
    """Replace the speed figures of an existing report, keeping everything else as measured."""
    path = out / "evaluation.json"
    results = json.loads(path.read_text())
    for control in results["controls"]:  # JSON wrote NaN as null; the table expects NaN
        for key in ("slope", "r"):
            control[key] = math.nan if control[key] is None else control[key]
    results["speed"] = asdict(speed)
    path.write_text(json.dumps(_finite(results), indent=1))
    markdown = write_markdown(results)
    (out / "evaluation.md").write_text(markdown)
    print(markdown)


def _finite(value):
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


if __name__ == "__main__":
    main()
