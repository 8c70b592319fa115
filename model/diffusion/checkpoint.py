"""Saving and loading MotionDiT weights: ``model.safetensors`` + ``config.json`` in one directory.

``config.json`` holds ``{"format": 1, "architecture": MotionDiTConfig fields, "metadata": {...}}``.
The weights include the normalisation buffers, so a loaded model needs nothing else. Loading is
the only file I/O the model library does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.diffusion.network import MotionDiT, MotionDiTConfig
from model.errors import WeightsError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "default"


def save_motion_model(
    directory: Path | str, network: MotionDiT, extra_metadata: dict[str, Any] | None = None
) -> Path:
    """Write the network's weights and config into ``directory`` (created); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": str(FORMAT_VERSION)})
    (directory / WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; weights ship in the package
    config = {
        "format": FORMAT_VERSION,
        "architecture": dataclasses.asdict(network.config),
        "metadata": extra_metadata or {},
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True))
    return directory


def read_motion_config(directory: Path | str) -> tuple[MotionDiTConfig, dict[str, Any]]:
    """(architecture config, metadata) from ``directory/config.json``; raises WeightsError."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise WeightsError("motion model config is missing", path=str(path))
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != FORMAT_VERSION:
            raise WeightsError(
                "unsupported motion model format", path=str(path), format=raw.get("format")
            )
        config = MotionDiTConfig(**raw["architecture"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise WeightsError(f"motion model config is unreadable: {exc}", path=str(path)) from exc
    return config, dict(raw.get("metadata", {}))


def load_motion_model(directory: Path | str = DEFAULT_WEIGHTS_DIR, device: str = "cpu") -> MotionDiT:
    """Build the MotionDiT described by ``config.json`` and load its weights, in eval mode.

    Raises WeightsError when a file is missing, corrupt, or the weights don't fit the config.
    """
    directory = Path(directory)
    config, _ = read_motion_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise WeightsError("motion model weights are missing", path=str(weights))
    try:
        state = load_file(str(weights), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"motion model weights are corrupt: {exc}", path=str(weights)) from exc
    network = MotionDiT(config)
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in expected if k in state and state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise WeightsError(
            "motion model weights do not match their config",
            path=str(weights), missing=missing[:5], unexpected=unexpected[:5], wrong_shape=wrong[:5],
        )
    network.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    return network.to(device).eval()
