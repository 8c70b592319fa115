"""The audit trail's rules: an append-only, hash-chained log of every state change.

``event.py`` defines an event and its canonical bytes; ``chain.py`` links events with SHA-256
and verifies a stored chain; ``store.py`` is the small interface a database implements (the
service's ``service.db.audit``). Pure: no database, no clock, no I/O.
"""

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
from policy.audit.event import AuditEvent, Outcome, canonical_json
from policy.audit.store import AuditStore, verify_store

__all__ = [
    "GENESIS", "GENESIS_HASH", "AuditEvent", "AuditStore", "BreakReason", "ChainBreak",
    "ChainHead", "ChainReport", "ChainedEvent", "Outcome", "canonical_json", "link_hash",
    "verify_chain", "verify_store",
]
