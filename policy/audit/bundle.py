"""The offline export bundle: audit events a third party can check with only the log's key.

JSON Lines, one object per line, in this order::

    {"type":"checkpoint","note":"<signed checkpoint note>","contiguous":true|false}
    {"type":"consistency","from_note":"<older signed note>","proof":["<base64>",...]}   (any)
    {"type":"event","seq":N,"event":{<canonical event document>},"prev_hash":"<hex>",
     "hash":"<hex>","leaf_index":N-1,"inclusion_proof":["<base64>",...]}              (each)
    {"type":"end","events":<number of event lines>}

The signed checkpoint is the only trusted input. Each event is rebuilt from its document and
hashed to its Merkle leaf, whose inclusion proof must reach the checkpoint's root: that proves
the event is in the log exactly as exported. Event lines come in increasing ``seq``; where two
are consecutive their chain link must match, and a ``contiguous`` bundle (a whole range) may
have no gap. The ``end`` line catches a cut-off file. A consistency line proves an older
checkpoint the recipient kept is a prefix of this one (the log was not rewritten since).

Lines outside the signature (``contiguous``, ``end``) cannot stop a dishonest exporter from
leaving events out of a filtered bundle; they catch damage and naive edits, and locate them.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy.audit.chain import GENESIS_HASH, ChainedEvent, link_hash
from policy.audit.checkpoint import Checkpoint, NoteVerifier
from policy.audit.event import AuditEvent
from policy.audit.merkle import HASH_SIZE, leaf_hash, verify_consistency, verify_inclusion
from policy.errors import (
    AuditBundleInvalid,
    AuditCheckpointInvalid,
    AuditEventInvalid,
    AuditProofInvalid,
)

_HEX = frozenset("0123456789abcdef")
ProofSource = Iterable[Sequence[bytes]] | Callable[[ChainedEvent], Sequence[bytes]]


# -- writing ------------------------------------------------------------------------------------


def checkpoint_line(note: str, *, contiguous: bool) -> str:
    return _dump({"type": "checkpoint", "note": note, "contiguous": contiguous})


def consistency_line(from_note: str, proof: Sequence[bytes]) -> str:
    return _dump({"type": "consistency", "from_note": from_note, "proof": _encode_proof(proof)})


def event_line(chained: ChainedEvent, proof: Sequence[bytes]) -> str:
    return _dump({"type": "event", "seq": chained.seq, "event": chained.event.document(),
                  "prev_hash": chained.prev_hash, "hash": chained.hash,
                  "leaf_index": chained.seq - 1, "inclusion_proof": _encode_proof(proof)})


def end_line(events: int) -> str:
    return _dump({"type": "end", "events": events})


@dataclass(frozen=True)
class ConsistencyRecord:
    """An older signed checkpoint and the consistency proof from it to the bundle's."""

    from_note: str
    proof: Sequence[bytes]


def export_lines(checkpoint_note: str, chained_events: Iterable[ChainedEvent],
                 proofs: ProofSource, *, consistency: Iterable[ConsistencyRecord] = (),
                 contiguous: bool = False) -> Iterator[str]:
    """The bundle's lines, each ending in a newline (``"".join`` them or stream them).

    ``proofs`` gives each event's inclusion proof against the checkpoint: an iterable in the
    events' order, or a function of the event (``lambda e: inclusion_proof(nodes, e.seq - 1,
    size)``), so events can stream from a cursor. Events must come in increasing ``seq``, with
    no gap when ``contiguous``.
    """
    pairs = (((chained, proofs(chained)) for chained in chained_events) if callable(proofs)
             else _paired(chained_events, proofs))
    yield checkpoint_line(checkpoint_note, contiguous=contiguous) + "\n"
    for record in consistency:
        yield consistency_line(record.from_note, record.proof) + "\n"
    count, last_seq = 0, None
    for chained, proof in pairs:
        if last_seq is not None and (chained.seq <= last_seq
                                     or contiguous and chained.seq != last_seq + 1):
            raise AuditBundleInvalid(f"event {chained.seq} follows event {last_seq} in a "
                                     f"{'contiguous ' if contiguous else ''}bundle",
                                     seq=chained.seq)
        yield event_line(chained, proof) + "\n"
        count, last_seq = count + 1, chained.seq
    yield end_line(count) + "\n"


def _paired(chained_events: Iterable[ChainedEvent], proofs: Iterable[Sequence[bytes]]
            ) -> Iterator[tuple[ChainedEvent, Sequence[bytes]]]:
    remaining = iter(proofs)
    for chained in chained_events:
        proof = next(remaining, None)
        if proof is None:
            raise AuditBundleInvalid(f"no inclusion proof for event {chained.seq}",
                                     seq=chained.seq)
        yield chained, proof
    if next(remaining, None) is not None:
        raise AuditBundleInvalid("more inclusion proofs than events")


# -- verifying ----------------------------------------------------------------------------------


class BundleFailureReason(enum.StrEnum):
    MALFORMED_LINE = "malformed_line"  # not JSON, wrong keys or types, misplaced line
    CHECKPOINT_INVALID = "checkpoint_invalid"  # signature, key or checkpoint text refused
    EVENT_INVALID = "event_invalid"  # the event document cannot be an audit event
    OUT_OF_ORDER = "out_of_order"  # seq not above the previous event line's
    SEQUENCE_GAP = "sequence_gap"  # a contiguous bundle skips an event
    LEAF_INDEX_MISMATCH = "leaf_index_mismatch"  # leaf_index is not seq - 1
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # not linked to the previous event (or genesis)
    HASH_MISMATCH = "hash_mismatch"  # hash is not sha256(prev_hash || canonical event)
    INCLUSION_INVALID = "inclusion_invalid"  # the event is not under the checkpoint's root
    CONSISTENCY_INVALID = "consistency_invalid"  # an older checkpoint is not a prefix
    COUNT_MISMATCH = "count_mismatch"  # the end line counts another number of events
    TRUNCATED = "truncated"  # no end line: the file was cut off
    TRAILING_DATA = "trailing_data"  # lines after the end line


@dataclass(frozen=True)
class BundleFailure:
    line: int  # 1-based line number of the first bad line
    reason: BundleFailureReason
    message: str
    seq: int | None = None  # the event concerned, when there is one


@dataclass(frozen=True)
class BundleReport:
    """What verified: the checkpoint, how many events, older checkpoints proven prefixes."""

    checkpoint: Checkpoint | None
    events_verified: int
    older_checkpoints: tuple[Checkpoint, ...]
    failure: BundleFailure | None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def raise_if_invalid(self) -> None:
        if self.failure is not None:
            f = self.failure
            raise AuditBundleInvalid(f"audit bundle line {f.line}: {f.message}", line=f.line,
                                     reason=f.reason.value, seq=f.seq,
                                     verified=self.events_verified)


def verify_bundle(lines: Iterable[str], verifier: NoteVerifier, *,
                  origin: str | None = None) -> BundleReport:
    """Check a bundle line by line and stop at the first bad line.

    ``lines`` may keep or drop their newlines (a file object, or ``text.splitlines()``);
    ``origin``, when given, must be the checkpoint's.
    """
    state = _BundleState(verifier, origin)
    number = 0
    for number, raw in enumerate(lines, 1):
        try:
            state.feed(number, raw.removesuffix("\n"))
        except _Bad as bad:
            return state.report(bad.failure)
    if number == 0 or not state.ended:
        return state.report(BundleFailure(number + 1, BundleFailureReason.TRUNCATED,
                                          f"bundle ends after {number} lines without its end "
                                          "line (cut off?)"))
    return state.report(None)


class _Bad(Exception):
    def __init__(self, failure: BundleFailure) -> None:
        self.failure = failure


@dataclass
class _BundleState:
    verifier: NoteVerifier
    origin: str | None
    checkpoint: Checkpoint | None = None
    contiguous: bool = False
    last: ChainedEvent | None = None
    count: int = 0
    ended: bool = False
    older: list[Checkpoint] = field(default_factory=list)
    line: int = 0

    @property
    def trusted(self) -> Checkpoint:
        """The verified checkpoint (line 1 verified it, or the bundle was already refused)."""
        if self.checkpoint is None:
            raise RuntimeError("bundle lines checked before the checkpoint line")
        return self.checkpoint

    def report(self, failure: BundleFailure | None) -> BundleReport:
        return BundleReport(checkpoint=self.checkpoint, events_verified=self.count,
                            older_checkpoints=tuple(self.older), failure=failure)

    def fail(self, reason: BundleFailureReason, message: str, seq: int | None = None) -> _Bad:
        return _Bad(BundleFailure(self.line, reason, message, seq))

    def feed(self, number: int, text: str) -> None:
        self.line = number
        if self.ended:
            if text.strip():
                raise self.fail(BundleFailureReason.TRAILING_DATA, "data after the end line")
            return
        obj = self.parse(text)
        kind = obj.get("type")
        if (number == 1) != (kind == "checkpoint"):
            raise self.fail(BundleFailureReason.MALFORMED_LINE,
                            "the first line, and only it, is the checkpoint")
        handlers = {"checkpoint": self.on_checkpoint, "consistency": self.on_consistency,
                    "event": self.on_event, "end": self.on_end}
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise self.fail(BundleFailureReason.MALFORMED_LINE, f"unknown line type {kind!r}")
        handler(obj)

    def parse(self, text: str) -> dict[str, Any]:
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise self.fail(BundleFailureReason.MALFORMED_LINE, f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise self.fail(BundleFailureReason.MALFORMED_LINE, "not a JSON object")
        return obj

    def expect(self, obj: dict[str, Any], types: dict[str, type]) -> None:
        if set(obj) != {"type", *types}:
            raise self.fail(BundleFailureReason.MALFORMED_LINE,
                            f"a {obj['type']} line has exactly the keys "
                            f"{sorted({'type', *types})}")
        for key, expected in types.items():
            value = obj[key]
            if not isinstance(value, expected) or expected is int and isinstance(value, bool):
                raise self.fail(BundleFailureReason.MALFORMED_LINE,
                                f"{key} must be a {expected.__name__}")

    def on_checkpoint(self, obj: dict[str, Any]) -> None:
        self.expect(obj, {"note": str, "contiguous": bool})
        try:
            self.checkpoint = self.verifier.verify(obj["note"], origin=self.origin)
        except AuditCheckpointInvalid as exc:
            raise self.fail(BundleFailureReason.CHECKPOINT_INVALID, str(exc)) from None
        self.contiguous = obj["contiguous"]

    def on_consistency(self, obj: dict[str, Any]) -> None:
        self.expect(obj, {"from_note": str, "proof": list})
        proof = self.proof(obj["proof"])
        new = self.trusted
        try:
            old = self.verifier.verify(obj["from_note"], origin=new.origin)
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        except (AuditCheckpointInvalid, AuditProofInvalid) as exc:
            raise self.fail(BundleFailureReason.CONSISTENCY_INVALID, str(exc)) from None
        if old.timestamp > new.timestamp:
            raise self.fail(BundleFailureReason.CONSISTENCY_INVALID,
                            f"the older checkpoint ({old.size} leaves) is dated after this one")
        self.older.append(old)

    def on_event(self, obj: dict[str, Any]) -> None:
        self.expect(obj, {"seq": int, "event": dict, "prev_hash": str, "hash": str,
                          "leaf_index": int, "inclusion_proof": list})
        seq = obj["seq"]
        chained = self.chained(obj, seq)
        self.check_order(seq)
        if obj["leaf_index"] != seq - 1:
            raise self.fail(BundleFailureReason.LEAF_INDEX_MISMATCH,
                            f"event {seq} claims leaf index {obj['leaf_index']}", seq)
        self.check_links(chained)
        proof = self.proof(obj["inclusion_proof"])
        try:
            verify_inclusion(leaf_hash(chained.event.canonical_bytes()), seq - 1,
                             self.trusted.size, proof, self.trusted.root)
        except AuditProofInvalid as exc:
            raise self.fail(BundleFailureReason.INCLUSION_INVALID,
                            f"event {seq}: {exc}", seq) from None
        self.last, self.count = chained, self.count + 1

    def chained(self, obj: dict[str, Any], seq: int) -> ChainedEvent:
        if seq < 1 or not all(_is_hex64(obj[key]) for key in ("prev_hash", "hash")):
            raise self.fail(BundleFailureReason.MALFORMED_LINE,
                            "seq must be >= 1 and hashes 64 lowercase hex digits")
        try:
            event = AuditEvent.from_document(obj["event"])
        except AuditEventInvalid as exc:
            raise self.fail(BundleFailureReason.EVENT_INVALID, f"event {seq}: {exc}",
                            seq) from None
        return ChainedEvent(seq=seq, event=event, prev_hash=obj["prev_hash"], hash=obj["hash"])

    def check_order(self, seq: int) -> None:
        if self.last is None:
            return
        if seq <= self.last.seq:
            raise self.fail(BundleFailureReason.OUT_OF_ORDER,
                            f"event {seq} comes after event {self.last.seq}", seq)
        if self.contiguous and seq != self.last.seq + 1:
            raise self.fail(BundleFailureReason.SEQUENCE_GAP,
                            f"expected event {self.last.seq + 1} here, found {seq} (a line is "
                            "missing or moved)", seq)

    def check_links(self, chained: ChainedEvent) -> None:
        seq = chained.seq
        expected = (GENESIS_HASH if seq == 1 else
                    self.last.hash if self.last is not None and self.last.seq == seq - 1 else
                    None)
        if expected is not None and chained.prev_hash != expected:
            raise self.fail(BundleFailureReason.PREV_HASH_MISMATCH,
                            f"event {seq} links to {chained.prev_hash}, not to event "
                            f"{seq - 1}'s hash {expected}", seq)
        recomputed = link_hash(chained.prev_hash, chained.event)
        if chained.hash != recomputed:
            raise self.fail(BundleFailureReason.HASH_MISMATCH,
                            f"event {seq} hashes to {recomputed}, the line says {chained.hash}",
                            seq)

    def on_end(self, obj: dict[str, Any]) -> None:
        self.expect(obj, {"events": int})
        if obj["events"] != self.count:
            raise self.fail(BundleFailureReason.COUNT_MISMATCH,
                            f"the end line counts {obj['events']} events, the bundle has "
                            f"{self.count}")
        self.ended = True

    def proof(self, encoded: list[Any]) -> list[bytes]:
        hashes = [_decode_hash(item) for item in encoded]
        if any(value is None for value in hashes):
            raise self.fail(BundleFailureReason.MALFORMED_LINE,
                            "proof hashes must be canonical base64 of 32 bytes")
        return hashes  # type: ignore[return-value]


# -- helpers ------------------------------------------------------------------------------------


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _encode_proof(proof: Sequence[bytes]) -> list[str]:
    if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in proof):
        raise AuditBundleInvalid(f"proof hashes must be {HASH_SIZE} bytes")
    return [base64.b64encode(h).decode("ascii") for h in proof]


def _decode_hash(item: object) -> bytes | None:
    if not isinstance(item, str) or len(item) != 44:
        return None
    try:
        raw = base64.b64decode(item, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == HASH_SIZE and base64.b64encode(raw).decode() == item else None


def _is_hex64(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX
