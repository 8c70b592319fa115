"""Pieces every ``likeness`` command shares: error reporting and the model's controls."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from model.controls import EMOTIONS, Controls
from model.errors import CodedError


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn any of our errors into a precise one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CodedError as exc:  # ModelError, PolicyError, ServiceError
            click.echo(f"error [{exc.code}]: {exc.message}", err=True)
            sys.exit(2)

    return wrapper


def controls_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The model's generation controls as options (shared by demo and, later, generate)."""
    options = [
        click.option("--seed", type=int, default=0, show_default=True, help="Diffusion noise seed."),
        click.option("--emotion", type=click.Choice(EMOTIONS), default="neutral", show_default=True),
        click.option(
            "--gaze", type=(float, float), default=(0.0, 0.0), show_default=True,
            metavar="X Y", help="Main gaze direction, each in [-1, 1] (+x right, +y down).",
        ),
        click.option("--distance", type=float, default=0.0, show_default=True,
                     help="Head distance, log scale in [-0.3, 0.3] (+ closer)."),
        click.option("--steps", type=int, default=8, show_default=True, help="Sampler steps (1-50)."),
        click.option("--audio-guidance", type=float, default=0.5, show_default=True),
        click.option("--gaze-guidance", type=float, default=1.0, show_default=True),
        click.option("--head-motion", type=float, default=1.0, show_default=True,
                     help="Head motion amplitude, 0 (still) to 2."),
        click.option("--expression", type=float, default=1.0, show_default=True,
                     help="Brows, lip corners and gaze amplitude, 0 to 2."),
        click.option("--blinks/--no-blinks", default=True, show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_controls(**values: Any) -> Controls:
    return Controls(
        seed=values["seed"],
        emotion=values["emotion"],
        gaze=tuple(values["gaze"]),
        distance=values["distance"],
        steps=values["steps"],
        audio_guidance=values["audio_guidance"],
        gaze_guidance=values["gaze_guidance"],
        head_motion=values["head_motion"],
        expression=values["expression"],
        blinks=values["blinks"],
    )
