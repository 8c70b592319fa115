"""Report helpers shared by the watermark benchmarks: markdown tables, JSON, the PNG crop."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, is_dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.model_eval.inputs import ROOT
from policy.watermark import WatermarkKey

REPORTS = ROOT / "reports" / "watermark"


def bench_key(label: str) -> WatermarkKey:
    """A deterministic key for reproducible benchmark runs (never used in production)."""
    return WatermarkKey(hashlib.sha256(f"likeness-bench/{label}".encode()).digest())


def table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write(name: str, markdown: str, data: object) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{name}.md").write_text(markdown + "\n")
    payload = asdict(data) if is_dataclass(data) else data
    (REPORTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
    return REPORTS / f"{name}.md"


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, python {platform.python_version()}"


def side_by_side(original: np.ndarray, marked: np.ndarray, path: Path, box: int = 160) -> None:
    """original | marked | 8x amplified difference (grey = 0), a face-centred crop, 2x zoom."""
    h, w = original.shape[:2]
    y0, x0 = (h - box) // 2 - box // 4, (w - box) // 2
    crop = (slice(y0, y0 + box), slice(x0, x0 + box))
    diff = marked[crop].astype(np.int16) - original[crop].astype(np.int16)
    amplified = np.clip(128 + 8 * diff, 0, 255).astype(np.uint8)
    strip = np.concatenate([original[crop], marked[crop], amplified], axis=1)
    strip = cv2.resize(strip, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
