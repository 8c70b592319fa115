"""The officers' audit-log endpoints over real HTTP and PostgreSQL: only compliance officers get
in; the latest checkpoint, an event's inclusion proof and a consistency proof all verify with
the returned public key alone; verification is recorded, and names the first bad entry once a
superuser has edited the table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from policy.audit import AuditEvent
from policy.audit.checkpoint import NoteVerifier
from policy.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from service.audit.log_keys import create_log_key, load_log_signer
from service.audit.runner import checkpoint_if_grown
from service.audit.sequencer import sequence_pending
from service.db import make_engine, make_session_factory
from service.db.audit import SqlAuditStore
from service.db.migrate import upgrade_database
from service.db.types import utcnow
from tests.service.api.conftest import World, build_world, error_code, make_settings


@pytest.fixture
def audit_api(postgres_database: Callable[[str], str], tmp_path: Path,
              redis_prefix: str) -> Iterator[World]:
    """A world on a database of its own: this test commits a superuser's edit."""
    engine = make_engine(postgres_database("likeness_test_audit_api"))
    upgrade_database(engine)
    settings = make_settings(tmp_path, redis_prefix)
    create_log_key(settings)
    world = build_world(engine, settings)
    try:
        with world.client:
            yield world
    finally:
        engine.dispose()


def _checkpoint(world: World) -> int:
    sessions = make_session_factory(world.engine)
    sequence_pending(sessions)
    made = checkpoint_if_grown(sessions, load_log_signer(world.settings), utcnow(),
                               settings=world.settings)
    assert made is not None and made.created
    return made.stored.checkpoint.size


def test_only_officers_reach_the_audit_log(audit_api: World) -> None:
    for path in ("/v1/audit/verify", "/v1/audit/checkpoints/latest",
                 "/v1/audit/events/1/proof", "/v1/audit/consistency?from=0&to=1"):
        partner = audit_api.client.get(path, headers=audit_api.headers())
        assert partner.status_code == 403 and error_code(partner) == "role_missing", path
        assert audit_api.client.get(path).status_code == 401, path
    missing = audit_api.client.get("/v1/audit/checkpoints/latest", headers=audit_api.officer())
    assert missing.status_code == 404 and error_code(missing) == "audit_checkpoint_missing"


def test_checkpoints_and_proofs_verify_offline_and_tampering_is_named(
        audit_api: World) -> None:
    first = _checkpoint(audit_api)
    # A partner refused: its denial is an audit event, so the log grows.
    audit_api.client.get("/v1/audit/verify", headers=audit_api.headers())
    second = _checkpoint(audit_api)
    officer = audit_api.officer()

    latest = audit_api.client.get("/v1/audit/checkpoints/latest", headers=officer).json()
    verifier = NoteVerifier.from_vkey(latest["verifier_key"])
    signed = verifier.verify(latest["checkpoint"]["note"])
    assert (signed.size, signed.root.hex()) == (second, latest["checkpoint"]["root_hash"])

    proof = audit_api.client.get(f"/v1/audit/events/{first}/proof", headers=officer).json()
    leaf = leaf_hash(AuditEvent.from_document(proof["event"]).canonical_bytes())
    assert leaf.hex() == proof["leaf_hash"]
    verify_inclusion(leaf, first - 1, signed.size,
                     [bytes.fromhex(h) for h in proof["inclusion_path"]], signed.root)

    consistency = audit_api.client.get(f"/v1/audit/consistency?from={first}&to={second}",
                                       headers=officer).json()
    old = verifier.verify(consistency["from"]["note"])
    verify_consistency(first, second, old.root, signed.root,
                       [bytes.fromhex(h) for h in consistency["consistency_path"]])
    bad_range = audit_api.client.get(f"/v1/audit/consistency?from={second}&to={first}",
                                     headers=officer)
    assert bad_range.status_code == 422 and error_code(bad_range) == "request_invalid"
    ahead = audit_api.client.get(f"/v1/audit/events/{second + 50}/proof", headers=officer)
    assert ahead.status_code == 404 and error_code(ahead) == "audit_checkpoint_missing"

    report = audit_api.client.get("/v1/audit/verify", headers=officer).json()
    assert report["ok"] and report["first_bad"] is None and report["events"] >= second
    assert report["latest_exported"]["tree_size"] == second

    _superuser_edit(audit_api.engine, seq=first)
    report = audit_api.client.get("/v1/audit/verify", headers=officer).json()
    assert not report["ok"]
    assert (report["first_bad"]["seq"], report["first_bad"]["reason"]) == (first,
                                                                           "hash_mismatch")
    sequence_pending(audit_api.engine)
    with Session(audit_api.engine) as session:
        verifications = [e.event for e in SqlAuditStore().events(session)
                         if e.event.action == "audit:log:verify"]
    assert [(e.actor, e.payload["ok"]) for e in verifications] == [
        (f"user:{audit_api.officer_id}", True), (f"user:{audit_api.officer_id}", False)]
    assert verifications[1].payload["first_bad_seq"] == first


def _superuser_edit(engine: Engine, *, seq: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text("UPDATE audit_events SET resource = 'organisation:elsewhere' "
                                "WHERE seq = :s"), {"s": seq})
