"""Exports on PostgreSQL and SQLite: the JSON Lines bundle verifies offline with the public key
alone (and an edited line is located), CSV rows, OCSF lines, and each export is audited; the
CLI round trip (export, verify-bundle, query) on an embedded SQLite installation."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from policy.audit.bundle import BundleFailureReason, verify_bundle
from service.audit.export import CSV_COLUMNS, ExportFormat, export_chunks, start_export
from service.audit.personal import erase_person, seal_fields
from service.audit.query import AuditFilter, query_events, refresh_log
from service.errors import AuditCheckpointMissing, KeysMissing
from tests.service.audit.access_support import (  # noqa: F401 (fixtures)
    KEYRING,
    SIGNER,
    access_engine,
    access_session,
    add,
    checkpoint,
    context,
    same_transaction,
    source,
)


def _export(session: Session, fmt: ExportFormat, flt: AuditFilter | None = None,
            actor: str = "user:officer"):
    plan = start_export(session, context(actor), fmt, flt or AuditFilter(),
                        verifier=SIGNER.verifier)
    return plan, "".join(export_chunks(same_transaction(session), plan, KEYRING, page=7))


def _story(session: Session, tmp_path: Path) -> tuple[str, str]:
    """Twenty events of one source, one with a sealed name; a checkpoint; two events after."""
    s, owner = source(), "subject:0b5d3c52-6b8e-4a8e-9d7e-1f4e2c1a9b00"
    add(session, f"{s}:subject:register", owner,
        payload=seal_fields(session, context(), owner, {"display_name": "Ada Actor"}))
    for i in range(19):
        add(session, f"{s}:job:submit" if i % 2 else f"{s}:consent:approve", f"thing:{i}",
            minutes=i + 1, actor="api_key:k1" if i % 2 else "user:officer")
    checkpoint(session, SIGNER, tmp_path)
    add(session, f"{s}:late:thing", "thing:late")
    add(session, f"{s}:late:thing", "thing:later")
    return s, owner


def test_the_jsonl_bundle_verifies_offline_and_an_edited_line_is_located(
        access_session: Session, tmp_path: Path) -> None:
    s, _ = _story(access_session, tmp_path)
    plan, text = _export(access_session, ExportFormat.JSONL)
    lines = text.splitlines()
    report = verify_bundle(lines, SIGNER.verifier)
    assert report.ok, report.failure
    assert report.checkpoint is not None and report.checkpoint.size == plan.through_seq
    assert report.events_verified == plan.through_seq  # the whole log up to the checkpoint
    assert plan.newer_events == 2 and json.loads(lines[0])["contiguous"] is True
    assert "Ada Actor" not in text  # the bundle carries what was hashed: sealed
    assert f"{s}:late:thing" not in text  # not under the checkpoint: not provable yet
    mine = [i for i, line in enumerate(lines) if f'"{s}:job:submit"' in line]
    edited = list(lines)
    edited[mine[2]] = edited[mine[2]].replace('"api_key:k1"', '"api_key:k2"')
    failure = verify_bundle(edited, SIGNER.verifier).failure
    assert failure is not None and failure.line == mine[2] + 1
    assert failure.reason == BundleFailureReason.HASH_MISMATCH
    assert failure.seq == json.loads(lines[mine[2]])["seq"]
    dropped = verify_bundle(lines[:mine[2]] + lines[mine[2] + 1:], SIGNER.verifier).failure
    assert dropped is not None and dropped.reason == BundleFailureReason.SEQUENCE_GAP
    assert dropped.line == mine[2] + 1


def test_a_filtered_bundle_proves_just_its_events(access_session: Session,
                                                  tmp_path: Path) -> None:
    s, _ = _story(access_session, tmp_path)
    plan, text = _export(access_session, ExportFormat.JSONL,
                         AuditFilter(action=f"{s}:job:", actor="api_key:k1"))
    lines = text.splitlines()
    assert json.loads(lines[0])["contiguous"] is False
    events = [json.loads(line) for line in lines if '"type":"event"' in line]
    assert len(events) == 9 and {e["event"]["action"] for e in events} == {f"{s}:job:submit"}
    report = verify_bundle(lines, SIGNER.verifier)
    assert report.ok and report.events_verified == 9
    refresh_log(access_session)
    [recorded] = query_events(access_session, AuditFilter(
        action="compliance:audit:export", actor="user:officer")).records[:1]
    assert recorded.resource == f"audit_export:{plan.export_id}"
    assert recorded.payload == {"format": "jsonl", "through_seq": plan.through_seq,
                                "filter": {"action": f"{s}:job:", "actor": "api_key:k1"}}


def test_csv_rows_are_flat_opened_and_defused(access_session: Session, tmp_path: Path) -> None:
    s, owner = _story(access_session, tmp_path)
    add(access_session, f"{s}:odd:thing", "=HYPERLINK(\"http://x\")")
    plan, text = _export(access_session, ExportFormat.CSV, AuditFilter(action=s))
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 1 + 23
    by_column = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    first = by_column[0]
    assert first["action"] == f"{s}:subject:register" and first["resource"] == owner
    assert json.loads(first["payload"]) == {"display_name": "Ada Actor"}
    assert first["subject_id"] == owner.split(":")[1] and first["client_address"]
    assert by_column[-1]["resource"] == "'=HYPERLINK(\"http://x\")"
    assert [int(r["seq"]) for r in by_column] == sorted(int(r["seq"]) for r in by_column)
    assert plan.through_seq == max(int(r["seq"]) for r in by_column)
    erase_person(access_session, context(), owner, reason="request")
    _, again = _export(access_session, ExportFormat.CSV, AuditFilter(action=f"{s}:subject:"))
    [_, row] = list(csv.reader(io.StringIO(again)))
    assert json.loads(row[CSV_COLUMNS.index("payload")]) == {"display_name": "[erased]"}


def test_ocsf_lines_are_api_activity_objects(access_session: Session, tmp_path: Path) -> None:
    s, _ = _story(access_session, tmp_path)
    _, text = _export(access_session, ExportFormat.OCSF, AuditFilter(action=s))
    objects = [json.loads(line) for line in text.splitlines()]
    assert len(objects) == 22
    assert {o["class_uid"] for o in objects} == {6003}
    assert [int(o["metadata"]["uid"]) for o in objects] == sorted(
        int(o["metadata"]["uid"]) for o in objects)
    assert objects[0]["unmapped"]["payload"] == {"display_name": "Ada Actor"}
    assert objects[0]["src_endpoint"] == {"ip": "203.0.113.7"}


def test_a_bundle_needs_a_checkpoint_and_the_verifier(access_session: Session) -> None:
    add(access_session, f"{source()}:thing:do", "thing:1")
    with pytest.raises(KeysMissing):
        start_export(access_session, context(), ExportFormat.JSONL, AuditFilter())
    with pytest.raises(AuditCheckpointMissing):  # this rolled-back database has none yet
        start_export(access_session, context(), ExportFormat.JSONL, AuditFilter(),
                     verifier=SIGNER.verifier)


def test_cli_export_verify_bundle_and_query(tmp_path: Path) -> None:
    """An embedded installation: events, a checkpoint, then the officer's commands."""
    from service.audit.log_keys import create_log_key, load_log_signer
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
        for i in range(5):
            add(session, "qcli:thing:do", f"thing:{i}", minutes=i, keyring=None)
    engine.dispose()
    runner = CliRunner()
    base = ["--data-dir", str(data), "audit"]
    assert runner.invoke(main, [*base, "checkpoint"]).exit_code == 0
    bundle = tmp_path / "out.jsonl"
    done = runner.invoke(main, [*base, "export", "--format", "jsonl", "--out", str(bundle),
                                "--by", "officer@example.test"])
    assert done.exit_code == 0, done.output
    again = runner.invoke(main, [*base, "export", "--format", "csv", "--out", str(bundle)])
    assert again.exit_code == 2 and "error [output_invalid]" in again.output
    vkey = load_log_signer(settings).verifier.vkey
    key_file = tmp_path / "log.vkey"
    key_file.write_text(vkey + "\n")
    checked = runner.invoke(main, ["audit", "verify-bundle", str(bundle), "--key", str(key_file)])
    assert checked.exit_code == 0 and "bundle intact: 5 events" in checked.output
    lines = bundle.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("thing:2", "thing:9")
    bundle.write_text("".join(lines))
    tampered = runner.invoke(main, ["audit", "verify-bundle", str(bundle), "--key", vkey])
    assert tampered.exit_code == 1
    assert "bundle INVALID at line 4: hash_mismatch" in tampered.output
    listed = runner.invoke(main, [*base, "query", "--json", "--action", "compliance:audit:",
                                  "--actor", "cli:officer@example.test"])
    assert listed.exit_code == 0, listed.output
    [export_event] = json.loads(listed.output)["items"]
    assert export_event["payload"]["format"] == "jsonl"
    table = runner.invoke(main, [*base, "query", "--action", "qcli:", "--limit", "2"])
    assert table.exit_code == 0 and "2 events; next page: --cursor" in table.output
    bad = runner.invoke(main, [*base, "query", "--since", "2026-01-01"])
    assert bad.exit_code == 2 and "needs a time zone" in bad.output
