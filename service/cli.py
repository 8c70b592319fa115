"""The ``likeness`` command line. Errors are printed as ``error [code]: message`` with exit 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from model.controls import EMOTIONS, Controls
from model.errors import ModelError


def _reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a ModelError into a precise one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ModelError as exc:
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


@click.group()
def main() -> None:
    """likeness: consent-gated talking-head generation."""


@main.command()
@click.option("--portrait", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Portrait image (default: the bundled sample).")
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Speech audio (default: the bundled sample).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out/demo"), show_default=True)
@controls_options
@_reports_errors
def demo(portrait: Path | None, audio: Path | None, out: Path, **control_values: Any) -> None:
    """Animate a portrait (default: the bundled sample) and print figures measured on the frames."""
    from service.demo import SAMPLE_PORTRAIT, SAMPLE_SPEECH, run_demo

    controls = build_controls(**control_values)
    figures = run_demo(out, portrait or SAMPLE_PORTRAIT, audio or SAMPLE_SPEECH, controls)
    width = max(len(name) for name in figures.__dataclass_fields__)
    for name, value in vars(figures).items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        click.echo(f"{name:<{width}}  {shown}")
    click.echo(f"wrote {out / 'contact_sheet.png'} and {out / 'figures.json'}")


if __name__ == "__main__":
    main()
