"""Checkpoints: signed, stored and exported once per tree size (never overwritten), never signed
over a log that no longer reproduces an exported one, made periodically only when the tree
grew; the log key from ``likeness pki init``; inclusion and consistency proofs from the
stored tree that verify with the public key alone; the API's sequencer thread."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from policy.audit.checkpoint import Checkpoint, NoteVerifier
from policy.audit.merkle import (
    leaf_hash,
    nodes_for_root,
    verify_consistency,
    verify_inclusion,
)
from policy.errors import AuditProofInvalid
from service.audit.checkpoints import (
    checkpoint_path,
    export_note,
    exported_sizes,
    latest_checkpoint,
)
from service.audit.log_keys import create_log_key, load_log_signer, load_log_verifier
from service.audit.proofs import prove_consistency, prove_event
from service.audit.runner import AuditMaintenance, SequencerThread
from service.audit.sequencer import sequence_pending
from service.audit.tree_store import stored_root
from service.db import SqlAuditStore, make_engine, make_session_factory, record
from service.db.migrate import upgrade_database
from service.db.models.audit import AuditCheckpointRow, AuditPendingRow
from service.errors import AuditCheckpointConflict, AuditCheckpointMissing, KeysMissing
from service.settings import Settings
from tests.service.audit.log_support import (  # noqa: F401 (fixtures)
    CONTEXT,
    ORIGIN,
    SIGNER,
    Log,
    log_engine,
    log_session,
    without_triggers,
)


@pytest.fixture
def log(log_session: Session, tmp_path: Path) -> Log:
    return Log(log_session, tmp_path / "checkpoints")


def _rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditCheckpointRow))


def test_a_checkpoint_is_signed_stored_and_exported_once_per_size(log: Log) -> None:
    log.append(9)
    rows_before = _rows(log.session)
    made = log.checkpoint()
    size = log.head().seq
    assert made.created and made.path == checkpoint_path(log.directory, size)
    checkpoint = NoteVerifier.from_vkey(SIGNER.verifier_key).verify(made.path.read_text())
    assert checkpoint == made.stored.checkpoint
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, size)
    assert checkpoint.root == stored_root(log.session, size)
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o444  # read-only, never rewritten
    assert _rows(log.session) == rows_before + 1

    again = log.checkpoint()  # nothing new: the same checkpoint, no new file or row
    assert not again.created and again.stored == made.stored
    assert _rows(log.session) == rows_before + 1 and exported_sizes(log.directory) == [size]

    log.append(3)
    grown = log.checkpoint()
    assert grown.created and exported_sizes(log.directory) == [size, size + 3]
    assert latest_checkpoint(log.session, SIGNER.verifier) == grown.stored


def test_no_checkpoint_is_signed_over_a_rolled_back_log(log: Log) -> None:
    log.append(4)
    size = log.head().seq
    later = Checkpoint(ORIGIN, size + 5, bytes(32), log.tick())
    export_note(log.directory, size + 5, SIGNER.sign(later))  # from before the "restore"
    with pytest.raises(AuditCheckpointConflict, match="rolled back"):
        log.checkpoint()


def test_no_checkpoint_is_signed_when_an_export_of_this_size_disagrees(log: Log) -> None:
    log.append(4)
    size = log.head().seq
    other = Checkpoint(ORIGIN, size, bytes(32), log.tick())
    export_note(log.directory, size, SIGNER.sign(other))
    with pytest.raises(AuditCheckpointConflict, match="does not match its exported"):
        log.checkpoint()


def test_an_export_left_without_its_row_is_adopted(log: Log) -> None:
    log.append(4)
    size = log.head().seq
    crashed = Checkpoint(ORIGIN, size, stored_root(log.session, size), log.tick())
    note = SIGNER.sign(crashed)
    export_note(log.directory, size, note)  # the process died before inserting the row
    made = log.checkpoint()
    assert not made.created and made.stored.note == note
    log.append(1)
    assert log.checkpoint().created


def test_a_checkpoint_over_tampered_nodes_is_refused(log: Log) -> None:
    log.append(4)
    level, index = nodes_for_root(log.head().seq)[-1]  # a node the root is folded from
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_tree_nodes SET hash = :h WHERE level = :l AND "
                             "node_index = :i"), {"h": bytes(32), "l": level, "i": index})
    with pytest.raises(AuditCheckpointConflict, match="disagree"):
        log.checkpoint()


def test_inclusion_and_consistency_proofs_verify_with_the_public_key(log: Log) -> None:
    log.append(6)
    first = log.checkpoint().stored.checkpoint
    log.append(11)
    latest = log.checkpoint().stored
    verifier = NoteVerifier.from_vkey(SIGNER.verifier_key)  # all a third party holds
    signed = verifier.verify(latest.note)
    for seq in (1, first.size, first.size + 1, signed.size):
        proof = prove_event(log.session, SIGNER.verifier, seq).to_json()
        leaf = leaf_hash(prove_event(log.session, SIGNER.verifier, seq).event.event
                         .canonical_bytes())
        assert proof["leaf_hash"] == leaf.hex() and proof["checkpoint"]["note"] == latest.note
        verify_inclusion(leaf, seq - 1, signed.size,
                         [bytes.fromhex(h) for h in proof["inclusion_path"]], signed.root)
    consistency = prove_consistency(log.session, SIGNER.verifier, first.size, signed.size)
    verify_consistency(first.size, signed.size, verifier.verify(consistency.old.note).root,
                       signed.root, consistency.path)


def test_proofs_name_what_is_missing(log: Log) -> None:
    log.append(3)
    made = log.checkpoint().stored.checkpoint
    log.append(2)
    with pytest.raises(AuditCheckpointMissing, match="not covered"):
        prove_event(log.session, SIGNER.verifier, made.size + 1)
    with pytest.raises(AuditCheckpointMissing, match="no event 0"):
        prove_event(log.session, SIGNER.verifier, 0)
    with pytest.raises(AuditCheckpointMissing, match="no checkpoint of size"):
        prove_consistency(log.session, SIGNER.verifier, made.size - 1, made.size)


def test_a_proof_over_a_tampered_event_is_refused(log: Log) -> None:
    log.append(3)
    size = log.checkpoint().stored.checkpoint.size
    without_triggers(log.session)
    log.session.execute(text("UPDATE audit_events SET actor = 'user:x' WHERE seq = :s"),
                        {"s": size})
    with pytest.raises(AuditProofInvalid):
        prove_event(log.session, SIGNER.verifier, size)


# -- keys and the periodic checkpoint ------------------------------------------------------------


def test_the_log_key_is_created_once_and_must_carry_the_origin(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, audit_log_origin="example.org/audit")
    with pytest.raises(KeysMissing, match="pki init"):
        load_log_signer(settings)
    path, created = create_log_key(settings)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert create_log_key(settings) == (path, False)  # never replaced
    signer = load_log_signer(settings)
    assert signer.name == "example.org/audit"
    assert load_log_verifier(settings).vkey == signer.verifier_key
    public = Settings(data_dir=tmp_path / "elsewhere", audit_log_origin="example.org/audit",
                      audit_log_verifier_key=signer.verifier_key)
    assert load_log_verifier(public).vkey == signer.verifier_key  # no private key needed
    with pytest.raises(KeysMissing, match="configured origin"):
        load_log_signer(Settings(data_dir=tmp_path, audit_log_origin="other.org/audit"))


@pytest.fixture
def committed_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'periodic.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


def test_the_maintenance_loop_checkpoints_only_when_the_log_grew(
        committed_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path, audit_checkpoint_interval_seconds=60)
    sessions = make_session_factory(committed_engine)
    now = [0.0]
    maintenance = AuditMaintenance(settings, sessions, clock=lambda: now[0])

    def write(n: int) -> None:
        with sessions.begin() as session:
            for i in range(n):
                record(session, CONTEXT, "test:thing:touch", f"thing:{i}")

    write(3)
    maintenance()  # no key yet: sequenced, not checkpointed, and said so once
    assert "no audit checkpoints" in caplog.text
    assert exported_sizes(settings.audit_checkpoint_root) == []
    create_log_key(settings)
    maintenance = AuditMaintenance(settings, sessions, clock=lambda: now[0])
    maintenance()
    assert exported_sizes(settings.audit_checkpoint_root) == [3]
    write(2)
    now[0] += 30
    maintenance()  # grown, but within the interval: sequenced only
    assert exported_sizes(settings.audit_checkpoint_root) == [3]
    now[0] += 31
    maintenance()
    assert exported_sizes(settings.audit_checkpoint_root) == [3, 5]
    now[0] += 61
    maintenance()  # the interval passed but nothing new: no checkpoint
    assert exported_sizes(settings.audit_checkpoint_root) == [3, 5]
    with sessions() as session:
        latest = latest_checkpoint(session, load_log_verifier(settings))
    assert latest is not None and latest.checkpoint.size == 5
    assert sequence_pending(committed_engine) == 0  # everything was sequenced on the way


def test_the_api_s_sequencer_thread_chains_what_requests_wrote(committed_engine: Engine) -> None:
    sessions = make_session_factory(committed_engine)
    thread = SequencerThread(sessions, interval=0.05, batch=2).start()
    try:
        with sessions.begin() as session:
            for i in range(5):
                record(session, CONTEXT, "test:thing:touch", f"thing:{i}")
        deadline = time.monotonic() + 60
        while _waiting(sessions) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        thread.stop()
    assert _waiting(sessions) == 0
    with sessions() as session:
        assert [e.event.resource for e in SqlAuditStore().events(session)] == [
            f"thing:{i}" for i in range(5)]


def _waiting(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditPendingRow))
