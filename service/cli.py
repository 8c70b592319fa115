"""The ``likeness`` command line. Errors are printed as ``error [code]: message`` with exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from service.cli_audit import audit
from service.cli_audit_query import COMMANDS as AUDIT_QUERY_COMMANDS
from service.cli_common import build_controls, controls_options, reports_errors
from service.cli_consent import consent
from service.cli_keys import COMMANDS as KEY_COMMANDS
from service.cli_ops import COMMANDS as OPERATOR_COMMANDS
from service.cli_ops import keys
from service.cli_release import generate, pki, quickstart, verify
from service.cli_subjects import subject
from service.settings import Settings


@click.group()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="LIKENESS_DATA_DIR", show_envvar=True,
              help="Keys and data (default: ~/.local/share/likeness).")
@click.pass_context
def main(context: click.Context, data_dir: Path | None) -> None:
    """likeness: consent-gated talking-head generation."""
    try:
        context.obj = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    except ValidationError as exc:
        problems = "; ".join(f"LIKENESS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                             for e in exc.errors())
        click.echo(f"error [settings_invalid]: {problems}", err=True)
        sys.exit(2)


@main.command()
@click.option("--portrait", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Portrait image (default: the bundled sample).")
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Speech audio (default: the bundled sample).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out/demo"), show_default=True)
@controls_options
@reports_errors
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


main.add_command(pki)
main.add_command(generate)
main.add_command(verify)
main.add_command(quickstart)
main.add_command(consent)
main.add_command(subject)
for command in AUDIT_QUERY_COMMANDS:
    audit.add_command(command)
main.add_command(audit)
for command in KEY_COMMANDS:
    keys.add_command(command)
for command in OPERATOR_COMMANDS:
    main.add_command(command)

if __name__ == "__main__":
    main()
