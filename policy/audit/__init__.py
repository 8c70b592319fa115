"""The audit trail's rules: an append-only, hash-chained log of every state change.

``event.py`` defines an event and its canonical bytes; ``chain.py`` links events with SHA-256
and verifies a stored chain; ``merkle.py`` is the RFC 6962/9162 Merkle tree over the same bytes
(roots, inclusion and consistency proofs, the sequencer's incremental frontier);
``checkpoint.py`` signs and verifies checkpoints as transparency-log signed notes;
``bundle.py`` writes and verifies offline export bundles; ``store.py`` is the small interface a
database implements (the service's ``service.db.audit``). Pure: no database, no clock, no I/O
but the signing key file.
"""

from policy.audit.bundle import (
    BundleFailure,
    BundleFailureReason,
    BundleReport,
    ConsistencyRecord,
    checkpoint_line,
    consistency_line,
    end_line,
    event_line,
    export_lines,
    verify_bundle,
)
from policy.audit.chain import (
    GENESIS,
    GENESIS_HASH,
    BreakReason,
    ChainBreak,
    ChainedEvent,
    ChainHead,
    ChainReport,
    link_hash,
    verify_chain,
)
from policy.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, key_hash
from policy.audit.event import AuditEvent, Outcome, canonical_json
from policy.audit.merkle import (
    EMPTY_ROOT,
    FetchedNodes,
    MemoryNodes,
    NodeSource,
    TreeFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_consistency,
    nodes_for_inclusion,
    nodes_for_root,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from policy.audit.store import AuditStore, verify_store

__all__ = [
    "EMPTY_ROOT", "GENESIS", "GENESIS_HASH", "AuditEvent", "AuditStore", "BreakReason",
    "BundleFailure", "BundleFailureReason", "BundleReport", "ChainBreak", "ChainHead",
    "ChainReport", "ChainedEvent", "Checkpoint", "ConsistencyRecord", "FetchedNodes",
    "MemoryNodes", "NodeSource", "NoteSigner", "NoteVerifier", "Outcome", "TreeFrontier",
    "canonical_json", "checkpoint_line", "consistency_line", "consistency_proof", "end_line",
    "event_line", "export_lines", "inclusion_proof", "key_hash", "leaf_hash", "link_hash",
    "node_hash", "nodes_for_consistency", "nodes_for_inclusion", "nodes_for_root", "root_of",
    "tree_root", "verify_bundle", "verify_chain", "verify_consistency", "verify_inclusion",
    "verify_store",
]
