"""``likeness audit`` on the embedded database: sequence, checkpoint (exported once per size),
verify (exit 0 intact / 1 tampered with the first bad entry / 2 usage or setup errors) and
prove (an inclusion proof that checks out against the exported checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from policy.audit import AuditEvent
from policy.audit.checkpoint import NoteVerifier
from policy.audit.merkle import leaf_hash, verify_inclusion
from service.cli import main
from service.db import make_engine


def _run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])
    return result.exit_code, result.output


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    for args in (("db", "upgrade"),
                 ("user", "create", "op@example.com", "--name", "Op", "--role", "operator"),
                 ("org", "create", "Acme Dubbing", "--use-case", "film dubbing")):
        code, output = _run(tmp_path, *args)
        assert code == 0, output
    return tmp_path


def _edit(data_dir: Path, statement: str) -> None:
    """A change made with the database file itself in hand (triggers dropped first)."""
    engine = make_engine(f"sqlite:///{data_dir / 'likeness.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
            connection.execute(text(statement))
    finally:
        engine.dispose()


def test_checkpoint_verify_and_prove(data_dir: Path) -> None:
    code, output = _run(data_dir, "audit", "checkpoint")
    assert code == 2 and "error [keys_missing]" in output and "pki init" in output
    code, output = _run(data_dir, "pki", "init")
    assert code == 0 and "audit log checkpoint key" in output

    code, output = _run(data_dir, "audit", "sequence")
    assert code == 0 and output.startswith("sequenced "), output
    size = int(output.split()[-2])  # user, role grant, organisation, keys created: a few
    assert size >= 3
    code, output = _run(data_dir, "audit", "checkpoint")
    assert code == 0 and output.startswith(f"signed checkpoint of {size} events"), output
    exported = data_dir / "audit-checkpoints" / f"{size:020d}.note"
    assert exported.is_file() and exported.read_text() in output
    code, output = _run(data_dir, "audit", "checkpoint")
    assert code == 0 and output.startswith(f"unchanged since the last checkpoint of {size}")

    code, output = _run(data_dir, "audit", "verify")
    assert code == 0 and output.startswith(f"audit log intact: {size} events"), output
    code, output = _run(data_dir, "audit", "verify", "--json")
    report = json.loads(output)
    assert report["ok"] and report["events"] == size + 1  # the first verification is one too
    assert report["latest_exported"]["tree_size"] == size

    code, output = _run(data_dir, "audit", "prove", "2", "--json")
    assert code == 0, output
    proof = json.loads(output)
    vkey = _verifier_key(data_dir)
    signed = vkey.verify(exported.read_text())
    assert proof["checkpoint"]["note"] == exported.read_text()
    leaf = leaf_hash(AuditEvent.from_document(proof["event"]).canonical_bytes())
    verify_inclusion(leaf, 1, signed.size, [bytes.fromhex(h) for h in proof["inclusion_path"]],
                     signed.root)
    code, output = _run(data_dir, "audit", "prove", "2")
    assert code == 0 and f"is leaf 1 of the {size}-event tree" in output
    code, output = _run(data_dir, "audit", "prove", "40")
    assert code == 2 and "error [audit_checkpoint_missing]" in output
    assert _run(data_dir, "audit", "prove", "0")[0] == 2  # a usage error

    _edit(data_dir, "UPDATE audit_events SET actor = 'cli:someone-else' WHERE seq = 2")
    code, output = _run(data_dir, "audit", "verify")
    assert code == 1
    assert "TAMPERED: first bad entry seq 2: hash_mismatch" in output
    code, output = _run(data_dir, "audit", "verify", "--json")
    assert code == 1 and json.loads(output)["first_bad"]["seq"] == 2


def _verifier_key(data_dir: Path) -> NoteVerifier:
    from service.audit.log_keys import load_log_verifier
    from service.settings import Settings

    return NoteVerifier.from_vkey(load_log_verifier(Settings(data_dir=data_dir)).vkey)


def test_a_rollback_to_an_older_backup_is_reported(data_dir: Path) -> None:
    assert _run(data_dir, "pki", "init")[0] == 0
    backup = (data_dir / "likeness.db").read_bytes()  # a few events, not yet sequenced
    assert _run(data_dir, "audit", "checkpoint")[0] == 0
    assert _run(data_dir, "user", "create", "co@example.com", "--name", "Co", "--role",
                "compliance_officer")[0] == 0
    code, output = _run(data_dir, "audit", "checkpoint")  # exported at 2 events more
    assert code == 0, output
    newest = int(output.split()[3])
    (data_dir / "likeness.db").write_bytes(backup)  # the operator restores the old file
    for suffix in ("-wal", "-shm"):
        (data_dir / f"likeness.db{suffix}").unlink(missing_ok=True)
    code, output = _run(data_dir, "audit", "verify")
    assert code == 1 and "rolled_back" in output and f"checkpoint {newest} was signed" in output
    code, output = _run(data_dir, "audit", "checkpoint")
    assert code == 2 and "error [audit_checkpoint_conflict]" in output
