"""The storage interface the audit chain needs, implemented by the service's database layer.

``append`` links events onto the head. The service does not call it from request
transactions: those only write the event to an inbox (so writers never wait on each other),
and one sequencer, holding the only lock, appends what committed transactions wrote
(``service/audit/sequencer.py``). Whoever appends must hold that lock (a row lock on the
chain head, or the database's write lock) so two appends can never link onto the same head
and fork the chain. The session type is the implementation's (a SQLAlchemy ``Session``);
this package does not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

from policy.audit.chain import ChainedEvent, ChainHead, ChainReport, verify_chain
from policy.audit.event import AuditEvent

SessionT_contra = TypeVar("SessionT_contra", contravariant=True)


class AuditStore(Protocol[SessionT_contra]):
    def append(self, session: SessionT_contra, event: AuditEvent) -> ChainedEvent:
        """Link ``event`` onto the current head and store it in the session's transaction."""
        ...

    def head(self, session: SessionT_contra) -> ChainHead:
        """The last stored link (``GENESIS`` for an empty chain)."""
        ...

    def events(self, session: SessionT_contra, *, after_seq: int = 0,
               through_seq: int | None = None) -> Iterator[ChainedEvent]:
        """Stored events with ``after_seq < seq <= through_seq`` in chain order."""
        ...


def verify_store(store: AuditStore[SessionT_contra], session: SessionT_contra) -> ChainReport:
    """Verify the whole stored chain from genesis up to the store's recorded head."""
    # Head first, then only events up to it: appends committed meanwhile do not count as a
    # mismatch even without a snapshot-isolated transaction.
    head = store.head(session)
    return verify_chain(store.events(session, through_seq=head.seq), expected_head=head)
