"""Operator commands on the embedded database: bootstrap, vet a partner, issue and revoke keys —
every change checked against the operator's role and recorded in the audit chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from service.audit.sequencer import sequence_pending
from service.cli import main
from service.db import make_engine
from service.db.audit import verify_audit_chain
from service.db.engine import make_session_factory


def _run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])
    return result.exit_code, result.output


@pytest.fixture()
def data_dir(tmp_path) -> Path:
    code, output = _run(tmp_path, "db", "upgrade")
    assert code == 0, output
    code, output = _run(tmp_path, "user", "create", "op@example.com", "--name", "Op",
                        "--role", "operator")
    assert code == 0, output
    return tmp_path


def _organisation(data_dir: Path) -> str:
    code, output = _run(data_dir, "org", "create", "Acme Dubbing", "--use-case", "film dubbing")
    assert code == 0 and "(pending)" in output
    organisation = output.split()[1]
    assert _run(data_dir, "user", "create", "pat@acme.example", "--name", "Pat", "--role",
                "partner", "--org", organisation)[0] == 0
    return organisation


def test_live_keys_need_a_vetted_organisation(data_dir):
    organisation = _organisation(data_dir)
    key_args = ("keys", "create", "--org", organisation, "--by", "op@example.com", "--name",
                "ci", "--scope", "jobs:create")
    code, output = _run(data_dir, *key_args)
    assert code == 2 and "error [organisation_not_vetted]" in output

    code, output = _run(data_dir, "org", "vet", organisation, "--operator", "op@example.com")
    assert code == 2 and "acceptable use policy" in output  # AUP first
    assert _run(data_dir, "org", "accept-aup", organisation, "--partner", "pat@acme.example",
                "--version", "2026-11")[0] == 0
    assert _run(data_dir, "org", "vet", organisation, "--operator", "op@example.com")[0] == 0

    code, output = _run(data_dir, *key_args)
    assert code == 0
    token = output.splitlines()[0]
    assert token.startswith("lk_live_")
    key_id = token.split("_")[2]
    code, output = _run(data_dir, "keys", "list")
    assert key_id in output and "active" in output and token not in output  # never shown again

    assert _run(data_dir, "keys", "revoke", key_id, "--by", "op@example.com")[0] == 0
    assert "revoked" in _run(data_dir, "keys", "list")[1]


def test_only_operators_vet_and_the_audit_chain_holds(data_dir):
    organisation = _organisation(data_dir)
    _run(data_dir, "org", "accept-aup", organisation, "--partner", "pat@acme.example",
         "--version", "2026-11")
    code, output = _run(data_dir, "org", "vet", organisation, "--operator", "pat@acme.example")
    assert code == 2 and "error [role_missing]" in output
    code, output = _run(data_dir, "org", "suspend", organisation, "--operator", "op@example.com",
                        "--reason", "complaint under review")
    assert code == 0 and "suspended" in output

    engine = make_engine(f"sqlite:///{data_dir / 'likeness.db'}")
    try:
        sequence_pending(engine)
        with make_session_factory(engine)() as session:
            report = verify_audit_chain(session)
    finally:
        engine.dispose()
    assert report.ok
    assert report.verified >= 6  # user, role, org, partner user, role, AUP, suspend


def test_staff_token_for_unknown_user_is_a_clear_error(data_dir):
    code, output = _run(data_dir, "staff", "token", "nobody@example.com")
    assert code == 2 and "error [not_found]" in output
    code, output = _run(data_dir, "staff", "token", "op@example.com")
    assert code == 0 and output.count(".") == 2  # a JWT
