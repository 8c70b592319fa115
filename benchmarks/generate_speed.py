"""Speed of ``likeness generate``: per-stage and end-to-end frames/s of the release path.

    .venv/bin/python -m benchmarks.generate_speed [--repeats 3] [--threads 2]

Runs the real release path (model -> watermark -> encode -> sign, then verify) on the bundled
sample with a throw-away development PKI, and prints a table of seconds and frames/s per stage.
The first run is a warm-up (model load, first-call allocations) and is not counted. Writes
``reports/release/speed.md`` and ``.json``. No assertions: read the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

import torch

from model.controls import Controls
from service.demo import SAMPLE_PORTRAIT, SAMPLE_SPEECH
from service.keys import init_development_keys
from service.release import GenerationRequest, ReleasePath
from service.settings import Settings

REPORT_DIR = Path(__file__).resolve().parents[1] / "reports" / "release"
STAGES = ("load_inputs", "model", "watermark", "encode", "sign", "verify")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the CPU has 2)")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch) / "data")
        init_development_keys(settings)
        release = ReleasePath.from_settings(settings)
        runs = []
        for index in range(args.repeats + 1):
            out = Path(scratch) / f"run{index}.mp4"
            video = release.generate(GenerationRequest(SAMPLE_PORTRAIT, SAMPLE_SPEECH, out,
                                                       Controls(seed=index)))
            if index > 0:
                runs.append((video.frames, vars(video.seconds).copy()))
    frames = runs[0][0]
    median = {stage: statistics.median(run[stage] for _, run in runs) for stage in STAGES}
    rows = [(stage, median[stage], frames / median[stage] if median[stage] else float("inf"))
            for stage in STAGES]
    generate_s = sum(median[s] for s in ("load_inputs", "model", "watermark", "encode", "sign"))
    rows.append(("generate (no verify)", generate_s, frames / generate_s))
    total = generate_s + median["verify"]
    rows.append(("generate + verify", total, frames / total))
    lines = [f"{'stage':<22} {'seconds':>8} {'frames/s':>9}"]
    lines += [f"{name:<22} {sec:>8.3f} {fps:>9.1f}" for name, sec, fps in rows]
    print(f"{frames} frames of 512x512 (bundled sample, {frames / 25:.1f} s), median of "
          f"{args.repeats} runs, {args.threads} torch threads, {platform.processor() or platform.machine()}")
    print("\n".join(lines))
    if not args.no_report:
        _write_report(frames, args, rows)


def _write_report(frames: int, args: argparse.Namespace, rows: list) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    table = ["| stage | seconds | frames/s |", "|---|---|---|"]
    table += [f"| {name} | {sec:.3f} | {fps:.1f} |" for name, sec, fps in rows]
    (REPORT_DIR / "speed.md").write_text(
        "# Release path speed\n\n"
        f"`python -m benchmarks.generate_speed --repeats {args.repeats} --threads {args.threads}`: "
        f"{frames} frames of 512×512 from the bundled sample, median of {args.repeats} runs after "
        "a warm-up, on the 2-core CPU. `model` includes rendering (the pipeline interleaves "
        "them); `encode` is H.264 CRF 20 veryfast + AAC; `sign` is C2PA; `verify` decodes the "
        "signed file and runs both checks.\n\n" + "\n".join(table) + "\n")
    (REPORT_DIR / "speed.json").write_text(json.dumps(
        {"frames": frames, "repeats": args.repeats, "threads": args.threads,
         "stages": {name: {"seconds": sec, "fps": fps} for name, sec, fps in rows}}, indent=1))


if __name__ == "__main__":
    main()
