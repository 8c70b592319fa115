"""``likeness audit``: sequence, checkpoint, verify and prove the audit log.

``verify`` exits 0 when the whole log verifies, 1 when it does not (the first bad entry is
printed), 2 on usage errors and our coded errors (no key, database not migrated...). Every
command first sequences what is waiting in the inbox, so it reads the log as written.
Query and export commands join this group from ``service.cli_audit_query``.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from service.cli_common import reports_errors
from service.settings import Settings


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    from service.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@click.group()
def audit() -> None:
    """The tamper-evident audit log: sequencing, signed checkpoints, verification, proofs."""


@audit.command("sequence")
@click.pass_obj
@reports_errors
def audit_sequence(settings: Settings) -> None:
    """Chain every event waiting in the inbox now (workers and the API do this continuously)."""
    from service.audit.sequencer import sequence_pending
    from service.db.audit import SqlAuditStore

    with _sessions(settings) as sessions:
        chained = sequence_pending(sessions, batch=settings.audit_sequencer_batch)
        with sessions() as session:
            head = SqlAuditStore().head(session)
    click.echo(f"sequenced {chained} events; the log holds {head.seq} events")


@audit.command("checkpoint")
@click.pass_obj
@reports_errors
def audit_checkpoint(settings: Settings) -> None:
    """Sign a checkpoint of the log now and export it (unless this size has one already)."""
    from service.audit.checkpoints import make_checkpoint
    from service.audit.log_keys import load_log_signer
    from service.audit.sequencer import sequence_pending
    from service.db.engine import session_scope
    from service.db.types import utcnow

    signer = load_log_signer(settings)
    with _sessions(settings) as sessions:
        sequence_pending(sessions, batch=settings.audit_sequencer_batch)
        with session_scope(sessions) as session:
            made = make_checkpoint(session, signer, utcnow(),
                                   directory=settings.audit_checkpoint_root)
    size = made.stored.checkpoint.size
    state = "signed" if made.created else "unchanged since the last"
    click.echo(f"{state} checkpoint of {size} events, exported to {made.path}")
    click.echo(made.stored.note, nl=False)


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Exported checkpoints to check against (default: LIKENESS_AUDIT_CHECKPOINT_DIR"
                   " or <data dir>/audit-checkpoints).")
@click.pass_obj
@reports_errors
def audit_verify(settings: Settings, as_json: bool, checkpoint_dir: Path | None) -> None:
    """Recompute the chain, the Merkle tree and every signed checkpoint from genesis; exit 1
    and name the first bad entry if anything was changed, removed, inserted or rolled back."""
    from service.audit.log_keys import load_log_verifier
    from service.audit.verify import report_json, verify_now

    verifier = load_log_verifier(settings)
    directory = checkpoint_dir or settings.audit_checkpoint_root
    with _sessions(settings) as sessions:
        report = verify_now(sessions, verifier, directory, batch=settings.audit_sequencer_batch)
        _record_verification(sessions, report)
    if as_json:
        _echo_json(report_json(report))
    else:
        _print_report(report)
    sys.exit(0 if report.ok else 1)


def _record_verification(sessions: sessionmaker[Session], report: Any) -> None:
    from policy.audit import Outcome
    from service.db.audit import AuditContext, record
    from service.db.engine import session_scope

    with session_scope(sessions) as session:
        payload = {"ok": report.ok, "events": report.events}
        if report.broken is not None:
            payload |= {"first_bad_seq": report.broken.seq,
                        "reason": report.broken.reason.value}
        record(session, AuditContext(actor=f"cli:{getpass.getuser()}"), "audit:log:verify",
               "audit_log:verify", payload=payload,
               outcome=Outcome.SUCCESS if report.ok else Outcome.FAILURE)


def _print_report(report: Any) -> None:
    latest = report.latest_exported
    exported = "none exported" if latest is None else f"latest exported {latest.size}"
    if report.ok:
        click.echo(f"audit log intact: {report.events} events, tree root "
                   f"{report.root.hex()}, {report.checkpoints} checkpoints ({exported})")
        return
    b = report.broken
    click.echo(f"audit log TAMPERED: first bad entry seq {b.seq}: {b.reason.value}: {b.detail}")
    click.echo(f"({report.events} events verified before it; {exported})")


@audit.command("prove")
@click.argument("seq", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the proof as JSON.")
@click.pass_obj
@reports_errors
def audit_prove(settings: Settings, seq: int, as_json: bool) -> None:
    """The inclusion proof of event SEQ against the latest signed checkpoint."""
    from service.audit.log_keys import load_log_verifier
    from service.audit.proofs import prove_event
    from service.audit.sequencer import sequence_pending

    verifier = load_log_verifier(settings)
    with _sessions(settings) as sessions:
        sequence_pending(sessions, batch=settings.audit_sequencer_batch)
        with sessions() as session:
            proof = prove_event(session, verifier, seq)
    if as_json:
        _echo_json(proof.to_json())
        return
    checkpoint = proof.checkpoint.checkpoint
    click.echo(f"event {seq} ({proof.event.event.action} on {proof.event.event.resource}) is "
               f"leaf {seq - 1} of the {checkpoint.size}-event tree")
    click.echo(f"leaf hash {proof.leaf_hash.hex()}")
    for step, digest in enumerate(proof.path):
        click.echo(f"  path[{step}] {digest.hex()}")
    click.echo("signed checkpoint:")
    click.echo(proof.checkpoint.note, nl=False)
