"""The audit hash chain: each stored event commits to everything before it.

``hash(n) = sha256(bytes(hash(n-1)) || canonical(event n))`` with a fixed genesis hash before
event 1, hex-encoded. Sequence numbers start at 1 and have no gaps, so a deleted event shows up
as a gap, an edited event as a hash mismatch, and a relinked (reordered or forked) event as a
``prev_hash`` that does not name its predecessor. ``verify_chain`` reports the first such break;
it can also verify a slice of a long chain from a known head (``start``).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from policy.audit.event import AuditEvent
from policy.errors import AuditChainBroken, AuditEventInvalid

# Domain-separated so the genesis cannot collide with a hash of any real event.
GENESIS_HASH = hashlib.sha256(b"likeness:audit:genesis:v1").hexdigest()
_HEX64 = re.compile(r"[0-9a-f]{64}")


def link_hash(prev_hash: str, event: AuditEvent) -> str:
    """The hash of ``event`` stored after the event whose hash is ``prev_hash``."""
    if not _HEX64.fullmatch(prev_hash):
        raise AuditEventInvalid("previous hash must be 64 lowercase hex digits", field="prev_hash")
    return hashlib.sha256(bytes.fromhex(prev_hash) + event.canonical_bytes()).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    """The last link: its sequence number (0 before any event) and hash."""

    seq: int
    hash: str


GENESIS = ChainHead(seq=0, hash=GENESIS_HASH)


@dataclass(frozen=True)
class ChainedEvent:
    """An event as stored: its place in the chain and the hashes linking it."""

    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str

    @classmethod
    def after(cls, head: ChainHead, event: AuditEvent) -> ChainedEvent:
        """``event`` linked onto ``head``."""
        return cls(seq=head.seq + 1, event=event, prev_hash=head.hash,
                   hash=link_hash(head.hash, event))

    @property
    def head(self) -> ChainHead:
        return ChainHead(seq=self.seq, hash=self.hash)


class BreakReason(enum.StrEnum):
    SEQUENCE_GAP = "sequence_gap"  # an event is missing, duplicated or out of order
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # relinked onto something else (fork, reorder)
    HASH_MISMATCH = "hash_mismatch"  # the event's content was altered after it was hashed
    HEAD_MISMATCH = "head_mismatch"  # the recorded head is not the last event (tail cut off)


@dataclass(frozen=True)
class ChainBreak:
    seq: int  # the first event that does not verify
    reason: BreakReason
    expected: str
    found: str


@dataclass(frozen=True)
class ChainReport:
    """``verified`` events checked good, ending at ``head``; ``broken`` is the first bad link."""

    verified: int
    head: ChainHead
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def raise_if_broken(self) -> None:
        if self.broken is not None:
            b = self.broken
            raise AuditChainBroken(
                f"audit chain broken at event {b.seq}: {b.reason.value} "
                f"(expected {b.expected}, found {b.found}); "
                f"{self.verified} events before it verify",
                seq=b.seq, reason=b.reason.value, verified=self.verified,
            )


def verify_chain(events: Iterable[ChainedEvent], *, start: ChainHead = GENESIS,
                 expected_head: ChainHead | None = None) -> ChainReport:
    """Walk ``events`` (in stored order) from ``start`` and stop at the first broken link.

    Links alone cannot reveal that the newest events were cut off; a store that records its
    head separately passes it as ``expected_head`` and a mismatch is reported too.
    """
    head, verified = start, 0
    for stored in events:
        broken = _check_link(head, stored)
        if broken is not None:
            return ChainReport(verified=verified, head=head, broken=broken)
        head, verified = stored.head, verified + 1
    if expected_head is not None and expected_head != head:
        broken = ChainBreak(max(expected_head.seq, head.seq), BreakReason.HEAD_MISMATCH,
                            f"{expected_head.seq}:{expected_head.hash}", f"{head.seq}:{head.hash}")
        return ChainReport(verified=verified, head=head, broken=broken)
    return ChainReport(verified=verified, head=head, broken=None)


def _check_link(head: ChainHead, stored: ChainedEvent) -> ChainBreak | None:
    if stored.seq != head.seq + 1:
        return ChainBreak(stored.seq, BreakReason.SEQUENCE_GAP, str(head.seq + 1), str(stored.seq))
    if stored.prev_hash != head.hash:
        return ChainBreak(stored.seq, BreakReason.PREV_HASH_MISMATCH, head.hash, stored.prev_hash)
    recomputed = link_hash(head.hash, stored.event)
    if stored.hash != recomputed:
        return ChainBreak(stored.seq, BreakReason.HASH_MISMATCH, recomputed, stored.hash)
    return None
