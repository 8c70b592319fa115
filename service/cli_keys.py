"""``likeness keys rotate-face-templates`` and ``likeness keys rotate-webhook-secrets``: re-seal
every stored face encoding / webhook secret under the current key (``service.key_rotation``).

Run after every process has the new key as current and the old one among the previous keys;
drop the old key once a run reports nothing unreadable (README, "Rotating keys"). Exit status 2
with ``error [sealed_value_unreadable]`` naming the rows no configured key opens; those rows are
left as they were, every other row is re-sealed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli_common import reports_errors
from service.errors import KeysMissing
from service.cli_ops import _context, _user
from service.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from service.db.audit import AuditContext
    from service.key_rotation import RotationReport

    Rotate = Callable[[sessionmaker[Session], AuditContext, uuid.UUID], RotationReport]

_BATCH = click.option("--batch-size", type=click.IntRange(1, 10_000), default=500,
                      show_default=True, help="Rows re-sealed per transaction.")
_BY = click.option("--by", "email", required=True, help="The operator rotating (audited).")


@click.command("rotate-face-templates")
@_BY
@_BATCH
@click.pass_obj
@reports_errors
def rotate_face_templates(settings: Settings, email: str, batch_size: int) -> None:
    """Re-seal live-capture face templates and portrait encodings under the current
    LIKENESS_FACE_TEMPLATE_KEY (idempotent; resumes after a crash)."""
    from service.domain.face_templates import TemplateBox
    from service.key_rotation import rotate_face_templates as rotate

    _require_current_key(settings.face_template_key is not None
                         or settings.face_template_key_file.exists(),
                         "LIKENESS_FACE_TEMPLATE_KEY", settings.face_template_key_file)
    _run(settings, email, lambda sessions, context, operator: rotate(
        sessions, context, TemplateBox.from_settings(settings), operator_id=operator,
        batch_size=batch_size))


@click.command("rotate-webhook-secrets")
@_BY
@_BATCH
@click.pass_obj
@reports_errors
def rotate_webhook_secrets(settings: Settings, email: str, batch_size: int) -> None:
    """Re-seal webhook endpoints' signing secrets under the current LIKENESS_WEBHOOK_SECRET_KEY
    (idempotent; resumes after a crash)."""
    from service.key_rotation import rotate_webhook_secrets as rotate
    from service.webhooks.secrets import SecretBox

    _require_current_key(settings.webhook_secret_key is not None
                         or settings.webhook_secret_key_file.exists(),
                         "LIKENESS_WEBHOOK_SECRET_KEY", settings.webhook_secret_key_file)
    _run(settings, email, lambda sessions, context, operator: rotate(
        sessions, context, SecretBox.from_settings(settings), operator_id=operator,
        batch_size=batch_size))


def _require_current_key(configured: bool, env_name: str, path: Path) -> None:
    """Opening a box with no key configured would create a fresh key file: rotating to a key
    nobody chose (and every row would then read as unreadable). Refuse that instead."""
    if not configured:
        raise KeysMissing(f"no current key to rotate to: set {env_name} (the new key) or keep "
                          f"the key file {path}", env=env_name, path=str(path))


def _run(settings: Settings, email: str, rotate: Rotate) -> None:
    from service.db import make_engine
    from service.db.engine import make_session_factory

    engine = make_engine(settings.database_url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as session:
            operator = _user(session, email).id
        report = rotate(sessions, _context(email), operator)
    finally:
        engine.dispose()
    click.echo(f"{report.key} {report.key_id} (current)")
    for column in report.columns:
        click.echo(f"{column.name}: {column.resealed} re-sealed, {column.current} already under "
                   f"the current key, {len(column.unreadable)} unreadable")
        for row_id in column.unreadable:
            click.echo(f"  unreadable: {column.name} {row_id}")
    report.raise_if_unreadable()


COMMANDS = (rotate_face_templates, rotate_webhook_secrets)
