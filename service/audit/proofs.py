"""Proofs officers and third parties check offline: an event's inclusion under the latest signed
checkpoint, and the consistency of two signed checkpoints.

Both are read from the stored tree nodes (O(log n) rows in one query) and checked before they
are handed out, so a tampered database yields an error naming the problem, never a proof that
fails later in someone else's hands. JSON forms (``to_json``) carry hashes as lowercase hex and
each checkpoint as its signed note, which verifies with the log's public key alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.audit import ChainedEvent
from policy.audit.checkpoint import NoteVerifier
from policy.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from service.audit.checkpoints import StoredCheckpoint, latest_checkpoint, stored_checkpoint
from service.audit.tree_store import stored_consistency, stored_inclusion
from service.db.audit import chained_event, event_columns
from service.db.models.audit import AuditEventRow
from service.errors import AuditCheckpointConflict, AuditCheckpointMissing, RequestInvalid


def checkpoint_json(stored: StoredCheckpoint) -> dict[str, Any]:
    c = stored.checkpoint
    return {"origin": c.origin, "tree_size": c.size, "root_hash": c.root.hex(),
            "timestamp": c.timestamp.isoformat().replace("+00:00", "Z"), "note": stored.note}


@dataclass(frozen=True)
class EventProof:
    """Event ``seq`` is leaf ``seq - 1`` of the tree the checkpoint signs; ``path`` proves it."""

    event: ChainedEvent
    leaf_hash: bytes
    path: tuple[bytes, ...]
    checkpoint: StoredCheckpoint

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.event.seq, "leaf_index": self.event.seq - 1,
                "event": self.event.event.document(), "prev_hash": self.event.prev_hash,
                "hash": self.event.hash, "leaf_hash": self.leaf_hash.hex(),
                "inclusion_path": [h.hex() for h in self.path],
                "checkpoint": checkpoint_json(self.checkpoint)}


@dataclass(frozen=True)
class ConsistencyProof:
    """The ``old`` checkpoint's tree is a prefix of the ``new`` one's; ``path`` proves it."""

    old: StoredCheckpoint
    new: StoredCheckpoint
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"from": checkpoint_json(self.old), "to": checkpoint_json(self.new),
                "consistency_path": [h.hex() for h in self.path]}


def require_latest(session: Session, verifier: NoteVerifier) -> StoredCheckpoint:
    latest = latest_checkpoint(session, verifier)
    if latest is None:
        raise AuditCheckpointMissing("the audit log has no checkpoint yet: run `likeness audit "
                                     "checkpoint`")
    return latest


def prove_event(session: Session, verifier: NoteVerifier, seq: int) -> EventProof:
    """The inclusion proof of event ``seq`` against the latest checkpoint."""
    latest = require_latest(session, verifier)
    size = latest.checkpoint.size
    if not 1 <= seq <= size:
        raise AuditCheckpointMissing(
            f"event {seq} is not covered by the latest checkpoint ({size} events): sequence "
            "and checkpoint the log first" if seq > size else f"there is no event {seq}",
            seq=seq, tree_size=size)
    row = session.execute(select(*event_columns())
                          .where(AuditEventRow.seq == seq)).one_or_none()
    if row is None:
        raise AuditCheckpointMissing(f"event {seq} is missing from the log: run `likeness "
                                     "audit verify`", seq=seq)
    event = chained_event(row)
    proof = stored_inclusion(session, seq, size)
    leaf = leaf_hash(event.event.canonical_bytes())
    verify_inclusion(leaf, seq - 1, size, proof.path, latest.checkpoint.root)
    return EventProof(event=event, leaf_hash=leaf, path=proof.path, checkpoint=latest)


def prove_consistency(session: Session, verifier: NoteVerifier, old_size: int,
                      new_size: int) -> ConsistencyProof:
    """The consistency proof between the stored checkpoints of ``old_size`` and ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise RequestInvalid(f"consistency needs 0 <= from <= to (got {old_size}, {new_size})",
                             field="from")
    old, new = (_signed(session, verifier, size) for size in (old_size, new_size))
    path = stored_consistency(session, old_size, new_size)
    verify_consistency(old_size, new_size, old.checkpoint.root, new.checkpoint.root, path)
    return ConsistencyProof(old=old, new=new, path=path)


def _signed(session: Session, verifier: NoteVerifier, size: int) -> StoredCheckpoint:
    found = stored_checkpoint(session, verifier, size)
    if found is None:
        raise AuditCheckpointMissing(f"there is no checkpoint of size {size}", size=size)
    if isinstance(found, str):
        raise AuditCheckpointConflict(f"the checkpoint of size {size} does not verify: {found}",
                                      size=size)
    return found
