"""Compliance commands: ``likeness consent grant-nonliving``.

The officer-only path for a subject that is not a living person able to consent (a painting,
a synthetic face, a historical public-domain photograph): the named officer's role is checked,
the written justification is required, and the grant is audited as
``compliance:consent:grant_nonliving`` by ``cli:<email>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from service.cli_common import reports_errors
from service.cli_ops import _context, _transaction, _user
from service.settings import Settings

CATEGORIES = ("painting", "synthetic_face", "historical_photo")


@click.group()
def consent() -> None:
    """Subjects' consent (compliance officers)."""


@consent.command("grant-nonliving")
@click.argument("subject_id", type=click.UUID)
@click.option("--officer", "email", required=True, help="The compliance officer granting it.")
@click.option("--category", type=click.Choice(CATEGORIES), required=True,
              help="What the subject is.")
@click.option("--justification", required=True,
              help="Why the subject is not a living person who can consent, and why this use "
                   "is acceptable (at least 40 characters).")
@click.option("--purpose", "purposes", multiple=True, required=True,
              help="A purpose from the configured vocabulary (repeat for several).")
@click.option("--expires", "expires_at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z",
                                                              "%Y-%m-%d"]), required=True,
              help="When the consent ends (a date is read as midnight UTC).")
@click.option("--max-jobs", type=click.IntRange(1, 1_000_000), default=None)
@click.pass_obj
@reports_errors
def grant_nonliving_command(settings: Settings, subject_id: Any, email: str, category: str,
                            justification: str, purposes: tuple[str, ...], expires_at: datetime,
                            max_jobs: int | None) -> None:
    """Grant consent for a subject that is not a living person, with a justification."""
    from datetime import UTC

    from service.db.models import NonlivingCategory
    from service.domain.nonliving import grant_nonliving

    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    with _transaction(settings) as session:
        granted = grant_nonliving(
            session, _context(email), officer_id=_user(session, email).id,
            subject_id=subject_id, category=NonlivingCategory(category),
            justification=justification, purposes=purposes, expires_at=expires_at,
            max_jobs=max_jobs, vocabulary=settings.consent_purposes)
        click.echo(f"consent {granted.id} approved for subject {subject_id} (non-living: "
                   f"{category}; purposes {', '.join(granted.purposes)}; until "
                   f"{expires_at.isoformat()})")


COMMANDS = (consent,)
