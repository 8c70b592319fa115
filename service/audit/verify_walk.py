"""Verification's walk: events streamed in keyset pages from the log's start up to the head,
each link and leaf recomputed, every stored tree node compared with the nodes the recomputed
leaves complete, and the root met at every checkpoint size."""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from policy.audit import ChainHead, Outcome
from policy.audit.event import ENCODING_VERSION, canonical_json, format_time
from policy.audit.merkle import Node, leaf_hash
from policy.errors import AuditEventInvalid
from service.audit.findings import LogBreak, Reason
from service.audit.retention import LogStart
from service.db.audit import event_pages, stored_event
from service.db.models.audit import HEAD_ROW_ID, AuditChainHead, AuditEventRow, AuditTreeNode
from service.errors import AuditLogError, DatabaseNotReady

PAGE = 5000
_NODES = AuditTreeNode.__table__


@dataclass(frozen=True)
class StoredHead:
    chain: ChainHead
    tree_size: int
    frontier: bytes


def read_head(session: Session) -> StoredHead:
    table = AuditChainHead.__table__
    row = session.execute(select(table).where(table.c.id == HEAD_ROW_ID)).one_or_none()
    if row is None:
        raise DatabaseNotReady("the audit chain head is missing: run the migrations",
                               table="audit_chain_head")
    return StoredHead(ChainHead(row.seq, row.hash), row.tree_size, bytes(row.frontier or b""))


class LogWalk:
    """Streams events up to the head, checking links, leaves, nodes and checkpoint roots."""

    def __init__(self, session: Session, head: StoredHead, start: LogStart) -> None:
        self.session, self.head = session, head
        self.head_tree_size = head.tree_size
        # After a retention prune the log starts at its boundary (service.audit.retention):
        # the kept chain hash and tree frontier, checked against the boundary's signed root.
        self.chain = start.chain
        self.frontier = start.frontier
        self.verified = 0
        self.problems: list[LogBreak] = []
        self.last_good_checkpoint = start.chain.seq

    @property
    def complete(self) -> bool:
        return not self.problems

    def run(self, roots: dict[int, bytes]) -> None:
        first = self.chain.seq  # 0, or the pruned boundary (a checkpoint's size: its root)
        if first in roots and not self._meet_checkpoint(first, roots[first]):
            return
        pages = _read_ahead(self._pages(first))
        try:
            for rows, stored in pages:
                if not self._page(rows, stored, roots):
                    return
        finally:
            pages.close()  # stops the reader thread before the session is used here again
        self._finish()

    def _pages(self, first: int) -> Iterator[_Page]:
        """Event pages with the stored nodes their leaves complete (read on the reader thread:
        node ``(L, i)`` is completed by leaf ``(i + 1) * 2**L - 1``)."""
        for rows in event_pages(self.session, after_seq=first, through_seq=self.head.chain.seq,
                                page=PAGE):
            low, high = rows[0].seq - 1, min(rows[-1].seq, self.head.tree_size) - 1
            stored: dict[int, dict[int, bytes]] = {}
            level = 0
            while high >= low and (high + 1) >> level:
                first_index = -(-(low + 1) // (1 << level)) - 1  # ceil((low+1)/2**L) - 1
                last_index = ((high + 1) >> level) - 1
                if first_index <= last_index:
                    stored[level] = self._stored_nodes(level, first_index, last_index)
                level += 1
            yield rows, stored

    def _stored_nodes(self, level: int, first: int, last: int) -> dict[int, bytes]:
        rows = self.session.execute(select(_NODES.c.node_index, _NODES.c.hash).where(
            _NODES.c.level == level, _NODES.c.node_index.between(first, last))).all()
        return {row.node_index: bytes(row.hash) for row in rows}

    def _page(self, rows: list[Any], stored: dict[int, dict[int, bytes]],
              roots: dict[int, bytes]) -> bool:
        completed: list[Node] = []
        for position, row in enumerate(rows):
            try:  # encoded once, for the chain and the leaf
                data = _event_bytes(row, checked=position == 0)
            except AuditEventInvalid as exc:
                self.problems.append(LogBreak(row.seq, Reason.EVENT_MALFORMED, exc.message))
                break
            broken = _link_break(self.chain, row, data)
            if broken is not None:
                self.problems.append(broken)
                break
            self.chain = ChainHead(row.seq, row.hash)
            self.verified += 1
            if row.seq > self.head.tree_size:
                continue
            completed.extend(self.frontier.append(leaf_hash(data)))
            root = roots.get(row.seq)
            if root is not None and not self._meet_checkpoint(row.seq, root):
                break
        self._compare_nodes(completed, stored)
        return not self.problems

    def _meet_checkpoint(self, size: int, root: bytes) -> bool:
        if self.frontier.root() == root:
            self.last_good_checkpoint = size
            return True
        self.problems.append(LogBreak(
            self.last_good_checkpoint + 1, Reason.CHECKPOINT_ROOT_MISMATCH,
            f"the events do not reproduce the root signed at size {size}: events "
            f"{self.last_good_checkpoint + 1}..{size} were rewritten after it was signed"))
        return False

    def _compare_nodes(self, completed: list[Node],
                       stored: dict[int, dict[int, bytes]]) -> None:
        """Stored nodes must equal the ones these leaves completed."""
        for level, index, digest in completed:
            found = stored.get(level, {}).get(index)
            if found != digest:
                reason = Reason.TREE_NODE_MISSING if found is None else Reason.TREE_NODE_MISMATCH
                self.problems.append(LogBreak(
                    (index + 1) << level, reason,
                    f"tree node level {level} index {index} "
                    f"(events {(index << level) + 1}..{(index + 1) << level})"))

    def _finish(self) -> None:
        head = self.head
        if self.chain.seq < head.chain.seq:
            self.problems.append(LogBreak(self.chain.seq + 1, Reason.TRUNCATED,
                                          f"the head names {head.chain.seq} events, the log "
                                          f"holds {self.chain.seq}"))
            return
        if self.chain != head.chain:
            self.problems.append(LogBreak(head.chain.seq, Reason.HEAD_MISMATCH,
                                          f"the head's hash is {head.chain.hash}, the last "
                                          f"event's {self.chain.hash}"))
        if self.frontier.to_bytes() != head.frontier:
            self.problems.append(LogBreak(max(head.tree_size, 1), Reason.HEAD_MISMATCH,
                                          "the head's tree frontier is not the recomputed one"))
        self._check_beyond_head()

    def _check_beyond_head(self) -> None:
        """Events past the head are an insertion, unless a sequencer moved the head meanwhile."""
        table = AuditEventRow.__table__
        last = self.session.execute(select(func.max(table.c.seq))).scalar_one()
        if last is not None and last > self.head.chain.seq \
                and read_head(self.session).chain == self.head.chain:
            self.problems.append(LogBreak(self.head.chain.seq + 1, Reason.HEAD_MISMATCH,
                                          f"events up to {last} are stored past the head "
                                          f"({self.head.chain.seq})"))


def _link_break(head: ChainHead, row: Any, data: bytes) -> LogBreak | None:
    """``policy.audit.chain``'s rule (``hash = sha256(prev_hash || canonical bytes)``, seq one
    more than the last) on bytes already encoded for the leaf; ``None`` when the link holds."""
    if row.seq != head.seq + 1:  # a gap names the first missing event
        return LogBreak(min(row.seq, head.seq + 1), Reason.SEQUENCE_GAP,
                        f"expected {head.seq + 1}, found {row.seq}")
    if row.prev_hash != head.hash:
        return LogBreak(row.seq, Reason.PREV_HASH_MISMATCH,
                        f"expected {head.hash}, found {row.prev_hash}")
    recomputed = hashlib.sha256(bytes.fromhex(head.hash) + data).hexdigest()
    if row.hash != recomputed:
        return LogBreak(row.seq, Reason.HASH_MISMATCH, f"expected {recomputed}, found {row.hash}")
    return None


def _event_bytes(row: Any, *, checked: bool) -> bytes:
    """The canonical bytes of a stored event, straight from its columns.

    The layout is ``AuditEvent.document``'s; building it directly skips the event's field
    validation (an edited field changes the bytes and fails the hash anyway) and halves the
    JSON work on a long log. ``checked`` rows also go through ``AuditEvent`` itself, once per
    page, so the two encodings can never silently part.
    """
    try:
        payload = json.loads(row.payload_text)
    except (TypeError, ValueError) as exc:
        raise AuditEventInvalid(f"stored audit payload is not JSON: {exc}",
                                field="payload") from exc
    document = {"v": ENCODING_VERSION, "actor": row.actor, "action": row.action,
                "resource": row.resource, "outcome": Outcome(row.outcome).value,
                "occurred_at": format_time(row.occurred_at), "request_id": row.request_id,
                "payload": payload}
    if row.client_address is not None:
        document["client_address"] = row.client_address
    data = canonical_json(document).encode("utf-8")
    if checked and stored_event(row).canonical_bytes() != data:
        raise AuditLogError("the stored-event encoding differs from policy.audit's: fix "
                            "service.audit.verify._event_bytes", seq=row.seq)
    return data


_Page = tuple[list[Any], dict[int, dict[int, bytes]]]
_END = object()


def _read_ahead(pages: Iterator[_Page]) -> Generator[_Page, None, None]:
    """``pages``, produced one page ahead on a thread: the database reads the next page
    (psycopg waits without holding the GIL) while the caller checks this one. Closing the
    generator stops and joins the thread."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(page):
                    return
            offer(_END)
        except BaseException as exc:  # raised on the caller's thread
            offer(exc)

    reader = threading.Thread(target=produce, name="likeness-audit-verify-reader", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()
