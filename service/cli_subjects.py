"""``likeness subject erase SUBJECT_ID --reason ... --by EMAIL``: a compliance officer erases a
subject from the operator's machine, exactly as ``POST /v1/subjects/{id}/erase`` does
(``service.domain.erasure``): consents revoked with every effect, biometric data, media,
released videos' bytes and names deleted, the private page disabled, the audit key destroyed.
"""

from __future__ import annotations

from typing import Any

import click

from service.cli_common import reports_errors
from service.cli_ops import _context, _transaction, _user
from service.settings import Settings


@click.group()
def subject() -> None:
    """The people depicted: erasure of a subject's personal data."""


@subject.command("erase")
@click.argument("subject_id", type=click.UUID)
@click.option("--reason", required=True, help="Why (the request, its reference); audited.")
@click.option("--by", "email", required=True, help="The compliance officer erasing.")
@click.pass_obj
@reports_errors
def subject_erase(settings: Settings, subject_id: Any, reason: str, email: str) -> None:
    """Erase SUBJECT_ID: revoke its consents, delete its biometric data, media and names; the
    audit trail keeps the pseudonymous id."""
    from service.domain.erasure import erase_subject
    from service.storage import make_blob_store

    with _transaction(settings) as session:
        officer = _user(session, email)
        done = erase_subject(session, _context(email, settings), make_blob_store(settings),
                             subject_id=subject_id, officer_id=officer.id, reason=reason)
    click.echo(f"subject {done.subject_id} erased: {len(done.revoked_consents)} consent(s) "
               f"revoked, {len(done.rejected_consents)} rejected, {len(done.cancelled_jobs)} "
               f"job(s) cancelled, {len(done.flagged_assets)} video(s) flagged in the registry, "
               f"{done.templates_deleted} face template(s) and {done.media_purged} media file(s) "
               f"deleted, {done.videos_deleted} released video(s) deleted, audit key "
               f"{'destroyed' if done.audit_key_destroyed else 'absent (nothing sealed)'}")
