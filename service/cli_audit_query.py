"""``likeness audit query | export | verify-bundle | erase-personal | prune``: officers'
access and retention.

``query`` prints a page of events (a table, or ``--json``) with the same filters as ``GET
/v1/audit/events``; ``export`` writes a whole filtered export (``jsonl`` bundle, ``csv``,
``ocsf``) to a new file and is itself audited; ``verify-bundle`` checks a JSON Lines bundle
offline with only the log's public key (no database, no settings: what a third party runs);
``erase-personal`` destroys a person's audit key (crypto-shredding); ``prune`` drops the
oldest whole checkpointed segments (``service.audit.retention``). Exit status: 0 done,
1 a bundle that does not verify, 2 our coded errors (``error [code]: message``).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.cli_common import reports_errors
from service.errors import OutputInvalid, RequestInvalid
from service.settings import Settings

_OUTCOMES = ("success", "denied", "failure")


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    from service.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _when(value: str | None, name: str) -> datetime | None:
    return None if value is None else _moment(value, name)


def _moment(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RequestInvalid(f"--{name} {value!r} is not an ISO 8601 time "
                             "(e.g. 2026-11-01T00:00:00Z)", field=name) from None
    if moment.tzinfo is None:
        raise RequestInvalid(f"--{name} needs a time zone (e.g. 2026-11-01T00:00:00Z)",
                             field=name)
    return moment


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The query filters, shared by ``query`` and ``export``."""
    options = [
        click.option("--since", default=None, help="From this time on (ISO 8601 with zone)."),
        click.option("--until", default=None, help="Before this time (exclusive)."),
        click.option("--actor", default=None, help="Exactly this actor (api_key:<id>, "
                                                   "user:<uuid>, system:..., cli:...)."),
        click.option("--org", "organisation_id", type=click.UUID, default=None,
                     help="Events concerning this partner organisation."),
        click.option("--subject", "subject_id", type=click.UUID, default=None),
        click.option("--job", "job_id", type=click.UUID, default=None),
        click.option("--action", default=None,
                     help="A prefix of the action tag (compliance:, job:job:...)."),
        click.option("--outcome", type=click.Choice(_OUTCOMES), default=None),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _filter(values: dict[str, Any]) -> Any:
    from service.audit.query import AuditFilter

    return AuditFilter(since=_when(values.pop("since"), "since"),
                       until=_when(values.pop("until"), "until"), actor=values.pop("actor"),
                       organisation_id=values.pop("organisation_id"),
                       subject_id=values.pop("subject_id"), job_id=values.pop("job_id"),
                       action=values.pop("action"), outcome=values.pop("outcome"))


def _record_json(r: Any) -> dict[str, Any]:
    refs = r.refs
    return {"seq": r.seq, "occurred_at": r.occurred_at.isoformat(), "actor": r.actor,
            "action": r.action, "resource": r.resource, "outcome": r.outcome.value,
            "request_id": r.request_id, "client_address": r.client_address,
            "organisation_id": None if refs.organisation_id is None else str(refs.organisation_id),
            "subject_id": None if refs.subject_id is None else str(refs.subject_id),
            "job_id": None if refs.job_id is None else str(refs.job_id),
            "payload": r.payload, "prev_hash": r.prev_hash, "hash": r.hash}


@click.command("query")
@filter_options
@click.option("--order", type=click.Choice(["newest", "oldest"]), default="newest",
              show_default=True)
@click.option("--cursor", type=click.IntRange(min=0), default=None,
              help="The next cursor a previous page printed.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event, then the cursor.")
@click.pass_obj
@reports_errors
def audit_query(settings: Settings, order: str, cursor: int | None, limit: int, as_json: bool,
                **filters: Any) -> None:
    """Print one page of audit events matching the filters (personal fields opened)."""
    from service.audit.personal import AuditKeyring
    from service.audit.query import Order, query_events, refresh_log
    from service.db.engine import session_scope

    flt = _filter(filters)
    with _sessions(settings) as sessions, session_scope(sessions) as session:
        refresh_log(session)
        page = query_events(session, flt, order=Order(order), cursor=cursor, limit=limit,
                            keyring=AuditKeyring.from_settings(settings))
    if as_json:
        click.echo(json.dumps({"items": [_record_json(r) for r in page.records],
                               "next_cursor": page.next_cursor}, indent=2, ensure_ascii=False))
        return
    for r in page.records:
        click.echo(f"{r.seq:>8}  {r.occurred_at.isoformat(timespec='seconds')}  "
                   f"{r.outcome.value:<7}  {r.action:<36}  {r.resource:<52}  {r.actor}")
    more = f"; next page: --cursor {page.next_cursor}" if page.next_cursor is not None else ""
    click.echo(f"{len(page.records)} events{more}")


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "ocsf"]), required=True)
@click.option("--out", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A new file (never overwritten).")
@click.option("--by", "email", default=None,
              help="Who exports (recorded in the audit trail; default: the OS user).")
@filter_options
@click.pass_obj
@reports_errors
def audit_export(settings: Settings, fmt: str, output: Path, email: str | None,
                 **filters: Any) -> None:
    """Export the matching events to OUT: jsonl (offline-verifiable bundle), csv or ocsf."""
    from service.audit.export import ExportFormat, export_chunks, start_export
    from service.audit.log_keys import load_log_verifier
    from service.audit.personal import AuditKeyring
    from service.db.audit import AuditContext
    from service.db.engine import session_scope

    flt, fmt_ = _filter(filters), ExportFormat(fmt)
    verifier = load_log_verifier(settings) if fmt_ == ExportFormat.JSONL else None
    keyring = AuditKeyring.from_settings(settings)
    try:
        out = output.open("x", encoding="utf-8", newline="")
    except OSError as exc:
        raise OutputInvalid(f"cannot create {output}: {exc.strerror or exc}",
                            path=str(output)) from None
    with out, _sessions(settings) as sessions:
        with session_scope(sessions) as session:
            plan = start_export(session, AuditContext(actor=f"cli:{email or getpass.getuser()}"),
                                fmt_, flt, verifier=verifier)
        for chunk in export_chunks(sessions, plan, keyring):
            out.write(chunk)
    newer = f" ({plan.newer_events} newer events wait for the next checkpoint)" \
        if plan.newer_events else ""
    click.echo(f"wrote {output}: {fmt} export {plan.export_id} through event "
               f"{plan.through_seq}{newer}")


@click.command("verify-bundle")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key", required=True,
              help="The log's verifier key (<origin>+<hash>+<base64>) or a file holding it.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@reports_errors
def audit_verify_bundle(bundle: Path, key: str, as_json: bool) -> None:
    """Check a JSON Lines export offline with only the log's public key (exit 1 if it fails)."""
    from policy.audit.bundle import verify_bundle
    from policy.audit.checkpoint import NoteVerifier

    text = Path(key).read_text(encoding="utf-8").strip() if Path(key).is_file() else key
    verifier = NoteVerifier.from_vkey(text)
    with bundle.open(encoding="utf-8", newline="") as lines:
        report = verify_bundle(lines, verifier)
    checkpoint, failure = report.checkpoint, report.failure
    if as_json:
        click.echo(json.dumps({
            "ok": report.ok, "events_verified": report.events_verified,
            "checkpoint": None if checkpoint is None else {
                "origin": checkpoint.origin, "tree_size": checkpoint.size,
                "root_hash": checkpoint.root.hex()},
            "failure": None if failure is None else {
                "line": failure.line, "reason": failure.reason.value, "seq": failure.seq,
                "message": failure.message}}, indent=2))
    elif failure is None:
        assert checkpoint is not None
        click.echo(f"bundle intact: {report.events_verified} events proven under the signed "
                   f"checkpoint of {checkpoint.size} events ({checkpoint.origin}, root "
                   f"{checkpoint.root.hex()})")
    else:
        click.echo(f"bundle INVALID at line {failure.line}: {failure.reason.value}: "
                   f"{failure.message}")
    sys.exit(0 if report.ok else 1)


@click.command("erase-personal")
@click.argument("owner")
@click.option("--reason", required=True, help="Why (an erasure request's reference...).")
@click.option("--by", "email", required=True, help="The compliance officer erasing.")
@click.pass_obj
@reports_errors
def audit_erase_personal(settings: Settings, owner: str, reason: str, email: str) -> None:
    """Destroy the audit key of OWNER (subject:<uuid> or user:<uuid>): their personal fields in
    the log read [erased] from now on, and the log still verifies."""
    from service.audit.personal import erase_person
    from service.auth.users import require_role
    from service.db.audit import AuditContext
    from service.db.engine import session_scope
    from service.db.models import Role, User
    from service.errors import NotFound

    with _sessions(settings) as sessions, session_scope(sessions) as session:
        user_id = session.scalar(select(User.id).where(User.email == email.strip().lower()))
        if user_id is None:
            raise NotFound(f"no user with email {email}", resource="user", email=email)
        require_role(session, user_id, Role.COMPLIANCE_OFFICER)
        destroyed = erase_person(session, AuditContext(actor=f"cli:{email}"), owner,
                                 reason=reason)
    click.echo(f"{owner}: audit key {'destroyed' if destroyed else 'absent; erasure recorded'}")


@click.command("prune")
@click.option("--before", required=True,
              help="Drop whole checkpointed segments whose events all happened before this "
                   "time (ISO 8601 with zone).")
@click.option("--role", default="likeness_retention", show_default=True,
              help="PostgreSQL: the retention role to act as (SET LOCAL ROLE); the database "
                   "user must be a member of it.")
@click.option("--by", "email", default=None,
              help="Who prunes (recorded in the audit trail; default: the OS user).")
@click.pass_obj
@reports_errors
def audit_prune(settings: Settings, before: str, role: str, email: str | None) -> None:
    """Retention: drop the oldest whole checkpointed segments of the audit log, after checking
    the whole log verifies; what remains still verifies from the kept boundary."""
    from service.audit.log_keys import load_log_verifier
    from service.audit.retention import prune_before
    from service.db.audit import AuditContext
    from service.db.engine import session_scope

    moment = _moment(before, "before")
    verifier = load_log_verifier(settings)
    with _sessions(settings) as sessions, session_scope(sessions) as session:
        done = prune_before(session, AuditContext(actor=f"cli:{email or getpass.getuser()}"),
                            moment, verifier=verifier,
                            checkpoint_dir=settings.audit_checkpoint_root, role=role)
    if done.events_deleted:
        click.echo(f"pruned {done.events_deleted} events: the log now starts at event "
                   f"{done.kept_from} (boundary {done.through_seq})")
    else:
        click.echo(f"nothing to prune before {moment.isoformat()}: the log starts at event "
                   f"{done.kept_from}")


COMMANDS = (audit_query, audit_export, audit_verify_bundle, audit_erase_personal, audit_prune)
