"""Retention on PostgreSQL and SQLite: only whole checkpointed segments go, as a prefix; what
remains verifies from the kept boundary (chain, tree, proofs, bundles); every other DELETE is
still refused, and on PostgreSQL pruning needs the retention role and its setting."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from policy.audit.bundle import verify_bundle
from service.audit.export import ExportFormat, export_chunks, start_export
from service.audit.proofs import prove_event
from service.audit.query import AuditFilter, query_events, refresh_log
from service.audit.retention import prune_before, start_of_log
from service.audit.verify import verify_audit_log
from service.db.models import AuditEventRow, AuditPrune
from service.errors import AuditLogError, RequestInvalid
from tests.service.audit.access_support import (  # noqa: F401 (fixtures)
    KEYRING,
    SIGNER,
    T0,
    access_engine,
    access_session,
    add,
    checkpoint,
    context,
    same_transaction,
    source,
)

DAY = timedelta(days=1)


def _seqs(session: Session) -> list[int]:
    return list(session.scalars(select(AuditEventRow.seq).order_by(AuditEventRow.seq)))


def _log(session: Session, directory: Path) -> tuple[int, int, int]:
    """Segments: 6 old events | 4 old events | 3 recent ones, a checkpoint after each."""
    s = source()
    for i in range(13):
        add(session, f"{s}:thing:touch", f"thing:{i}", minutes=i + (0 if i < 10 else 3 * 1440))
        if i in (5, 9, 12):
            checkpoint(session, SIGNER, directory)
    first = _seqs(session)[0]
    return first + 5, first + 9, first + 12


def _prune(session: Session, directory: Path, before):
    return prune_before(session, context("cli:retention"), before, verifier=SIGNER.verifier,
                        checkpoint_dir=directory)


def test_whole_segments_go_and_the_rest_still_verifies(access_session: Session,
                                                       tmp_path: Path) -> None:
    first_cut, second_cut, last = _log(access_session, tmp_path)
    # An event inside the second segment is recent: only the first segment can go.
    add(access_session, "qlate:thing:touch", "thing:x", minutes=2 * 1440)
    young = checkpoint(access_session, SIGNER, tmp_path)
    done = _prune(access_session, tmp_path, T0 + timedelta(minutes=7))
    assert (done.through_seq, done.events_deleted) == (first_cut, first_cut)
    assert _seqs(access_session)[0] == first_cut + 1
    done = _prune(access_session, tmp_path, T0 + DAY)  # the rest up to the second checkpoint
    assert (done.through_seq, done.events_deleted) == (second_cut, second_cut - first_cut)
    again = _prune(access_session, tmp_path, T0 + DAY)
    assert (again.through_seq, again.events_deleted) == (second_cut, 0)
    report = verify_audit_log(access_session, SIGNER.verifier, tmp_path)
    assert report.ok, report.broken
    start = start_of_log(access_session)
    assert start.chain.seq == second_cut and start.frontier.root() == start.root
    refresh_log(access_session)
    proof = prove_event(access_session, SIGNER.verifier, last)
    assert proof.event.seq == last and proof.checkpoint.checkpoint.size >= young
    pruned = query_events(access_session, AuditFilter(action="retention:audit_log:prune"),
                          keyring=KEYRING).records
    assert [r.payload["through_seq"] for r in pruned][:2] == [second_cut, first_cut]
    assert {r.actor for r in pruned} == {"cli:retention"}


def test_a_bundle_of_the_pruned_log_verifies_offline(access_session: Session,
                                                     tmp_path: Path) -> None:
    _, second_cut, _ = _log(access_session, tmp_path)
    _prune(access_session, tmp_path, T0 + DAY)
    checkpoint(access_session, SIGNER, tmp_path)
    plan = start_export(access_session, context(), ExportFormat.JSONL, AuditFilter(),
                        verifier=SIGNER.verifier)
    lines = "".join(export_chunks(same_transaction(access_session), plan, None)).splitlines()
    report = verify_bundle(lines, SIGNER.verifier)
    assert report.ok, report.failure
    assert report.events_verified == plan.through_seq - second_cut


def test_ordinary_deletes_and_bad_boundaries_are_still_refused(access_session: Session,
                                                               tmp_path: Path) -> None:
    first_cut, second_cut, last = _log(access_session, tmp_path)
    _prune(access_session, tmp_path, T0 + timedelta(minutes=7))
    for seq in (second_cut, last):
        with pytest.raises(DBAPIError), access_session.begin_nested():
            access_session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": seq})
    with pytest.raises(DBAPIError), access_session.begin_nested():
        access_session.execute(text("DELETE FROM audit_prunes"))
    postgresql = access_session.get_bind().dialect.name == "postgresql"
    chain = access_session.scalar(select(AuditEventRow.hash).where(
        AuditEventRow.seq == second_cut))
    wrong = [(second_cut, "0" * 64), (second_cut - 1, chain), (first_cut, chain)]
    for through, chain_hash in wrong:  # another hash, no checkpoint there, not forward
        with pytest.raises(DBAPIError), access_session.begin_nested():
            if postgresql:
                access_session.execute(text("SET LOCAL ROLE likeness_retention"))
                access_session.execute(text("SET LOCAL likeness.audit_retention = 'prune'"))
            access_session.execute(text(
                "INSERT INTO audit_prunes (through_seq, chain_hash, root_hash, events_deleted,"
                " pruned_at, pruned_by) SELECT :t, :h, root_hash, 0, :now, 'x' "
                "FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1"),
                {"t": through, "h": chain_hash, "now": T0})
    assert access_session.scalar(select(func.count()).select_from(AuditPrune)) == 1


@pytest.mark.parametrize("access_engine", ["postgresql"], indirect=True)
def test_postgresql_pruning_needs_the_retention_role_and_setting(
        access_session: Session, tmp_path: Path) -> None:
    """Roles and session settings are PostgreSQL's (SQLite's guards: the tests above)."""
    _log(access_session, tmp_path)
    _prune(access_session, tmp_path, T0 + timedelta(minutes=7))
    boundary = start_of_log(access_session).chain.seq
    app_role = f"likeness_test_app_{secrets.token_hex(4)}"  # rolled back with the test
    access_session.execute(text(f"CREATE ROLE {app_role} NOLOGIN"))
    access_session.execute(text(f"GRANT SELECT, DELETE ON audit_events, audit_prunes TO "
                                f"{app_role}"))
    attempts = [(app_role, True), ("likeness_retention", False)]
    for role, with_setting in attempts:  # the wrong role with the setting; the right without
        with pytest.raises(DBAPIError), access_session.begin_nested():
            access_session.execute(text(f"SET LOCAL ROLE {role}"))
            if with_setting:
                access_session.execute(text("SET LOCAL likeness.audit_retention = 'prune'"))
            access_session.execute(text("DELETE FROM audit_events WHERE seq <= :s"),
                                   {"s": boundary + 1})
    with access_session.begin_nested():  # rows inside the recorded boundary: allowed
        access_session.execute(text("SET LOCAL ROLE likeness_retention"))
        access_session.execute(text("SET LOCAL likeness.audit_retention = 'prune'"))
        access_session.execute(text("DELETE FROM audit_events WHERE seq <= :s"), {"s": boundary})
        access_session.execute(text("RESET ROLE"))


def test_a_log_that_does_not_verify_is_not_pruned(access_session: Session,
                                                  tmp_path: Path) -> None:
    first_cut, _, _ = _log(access_session, tmp_path)
    if access_session.get_bind().dialect.name == "postgresql":
        access_session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        access_session.execute(text("DROP TRIGGER audit_events_no_update"))
    access_session.execute(text("UPDATE audit_events SET actor = 'someone:else' WHERE seq = :s"),
                           {"s": first_cut - 2})
    with pytest.raises(AuditLogError) as refused:
        _prune(access_session, tmp_path, T0 + DAY)
    assert refused.value.context["seq"] == first_cut - 2
    assert len(_seqs(access_session)) == 13
    with pytest.raises(RequestInvalid):
        _prune(access_session, tmp_path, (T0 + DAY).replace(tzinfo=None))


def test_cli_prune_on_the_embedded_database(tmp_path: Path) -> None:
    from service.audit.log_keys import create_log_key
    from service.cli import main
    from service.db import make_engine, make_session_factory, session_scope
    from service.db.migrate import upgrade_database
    from service.settings import Settings

    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    create_log_key(settings)
    with session_scope(make_session_factory(engine)) as session:
        for i in range(4):
            add(session, "qprune:thing:do", f"thing:{i}", minutes=i, keyring=None)
    runner = CliRunner()
    base = ["--data-dir", str(data), "audit"]
    assert runner.invoke(main, [*base, "checkpoint"]).exit_code == 0
    with session_scope(make_session_factory(engine)) as session:
        add(session, "qprune:thing:do", "thing:new", minutes=3 * 1440, keyring=None)
    done = runner.invoke(main, [*base, "prune", "--before", (T0 + DAY).isoformat()])
    assert done.exit_code == 0, done.output
    assert "pruned 4 events: the log now starts at event 5" in done.output
    verified = runner.invoke(main, [*base, "verify"])
    assert verified.exit_code == 0, verified.output
    engine.dispose()
