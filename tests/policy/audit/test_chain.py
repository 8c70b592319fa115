"""The audit chain's rules on plain values: canonical encoding, linking, and finding the first
broken link whatever was done to a stored chain."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from policy.audit import (
    GENESIS,
    GENESIS_HASH,
    AuditEvent,
    BreakReason,
    ChainedEvent,
    ChainHead,
    Outcome,
    verify_chain,
)
from policy.errors import AuditChainBroken, AuditEventInvalid

T0 = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


def _event(n: int, **changes: object) -> AuditEvent:
    fields: dict[str, object] = dict(actor=f"user:{n}", action="org:organisation:vet",
                                     resource=f"organisation:{n}", occurred_at=T0,
                                     payload={"n": n, "note": "vetted ✓", "ratio": 0.1})
    fields.update(changes)
    return AuditEvent.of(**fields)  # type: ignore[arg-type]


def _chain(count: int) -> list[ChainedEvent]:
    events, head = [], GENESIS
    for n in range(count):
        linked = ChainedEvent.after(head, _event(n))
        events.append(linked)
        head = linked.head
    return events


def test_canonical_bytes_are_fixed_and_independent_of_key_order_and_time_zone() -> None:
    a = _event(1, payload={"b": [1, {"y": 2, "x": None}], "a": "é"})
    b = _event(1, payload={"a": "é", "b": [1, {"x": None, "y": 2}]},
               occurred_at=T0.astimezone(timezone(timedelta(hours=5, minutes=30))))
    assert a.canonical_bytes() == b.canonical_bytes()
    assert a.canonical_bytes() == (
        '{"action":"org:organisation:vet","actor":"user:1","occurred_at":'
        '"2026-11-24T12:00:00.123456Z","outcome":"success","payload":{"a":"é","b":[1,{"x":null,'
        '"y":2}]},"request_id":null,"resource":"organisation:1","v":1}').encode()
    assert b.occurred_at.tzinfo is UTC


def test_link_hash_is_pinned() -> None:
    # A silent change to the encoding would orphan every stored chain: pin one link.
    assert GENESIS_HASH == "e1b0e30909f12315c0dd253ad4e0d2f94a77eaeac0421b6fff892ac649987d9b"
    first = ChainedEvent.after(GENESIS, _event(0))
    assert first.seq == 1 and first.prev_hash == GENESIS_HASH
    assert first.hash == "2f88ceee101754a58df7ac95a96214a7c7e26de44378c3f8a915bceb46c0cc80"


@pytest.mark.parametrize("changes, field", [
    ({"action": "vet"}, "action"),
    ({"action": "org:Organisation:vet"}, "action"),
    ({"actor": ""}, "actor"),
    ({"resource": "x" * 201}, "resource"),
    ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),
    ({"payload": {"x": float("nan")}}, "payload"),
    ({"payload": {"x": object()}}, "payload"),
    ({"request_id": ""}, "request_id"),
])
def test_malformed_events_are_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(AuditEventInvalid) as info:
        _event(1, **changes)
    assert info.value.context["field"] == field


def test_non_canonical_payload_text_is_refused() -> None:
    with pytest.raises(AuditEventInvalid):
        dataclasses.replace(_event(1), payload_json='{"b": 1, "a": 2}')
    with pytest.raises(AuditEventInvalid):
        dataclasses.replace(_event(1), payload_json="[1]")


def test_an_intact_chain_verifies() -> None:
    events = _chain(5)
    report = verify_chain(events, expected_head=events[-1].head)
    assert report.ok and report.verified == 5 and report.head == events[-1].head
    report.raise_if_broken()
    empty = verify_chain([])
    assert empty.ok and empty.head == GENESIS


def test_a_slice_verifies_from_its_known_start() -> None:
    events = _chain(6)
    assert verify_chain(events[3:], start=events[2].head).ok
    assert not verify_chain(events[3:]).ok


def test_an_edited_event_is_a_hash_mismatch() -> None:
    events = _chain(5)
    edited = dataclasses.replace(events[2].event, outcome=Outcome.DENIED)
    events[2] = dataclasses.replace(events[2], event=edited)
    report = verify_chain(events)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (3, BreakReason.HASH_MISMATCH)
    assert report.verified == 2 and report.head == events[1].head
    with pytest.raises(AuditChainBroken) as info:
        report.raise_if_broken()
    assert info.value.context == {"seq": 3, "reason": "hash_mismatch", "verified": 2}


def test_a_deleted_event_is_a_gap() -> None:
    events = _chain(5)
    del events[1]
    report = verify_chain(events)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (3, BreakReason.SEQUENCE_GAP)


def test_a_relinked_event_is_a_prev_hash_mismatch() -> None:
    # Rewriting one event and recomputing its own hash still leaves its successor pointing at
    # the old hash; a fork (two events on one predecessor) breaks the same way.
    events = _chain(4)
    forged = ChainedEvent.after(events[0].head, _event(99))
    events[1] = forged
    report = verify_chain(events)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (3, BreakReason.PREV_HASH_MISMATCH)
    fork = [*_chain(2),
            dataclasses.replace(ChainedEvent.after(_chain(1)[0].head, _event(7)), seq=3)]
    assert verify_chain(fork).broken.reason == BreakReason.PREV_HASH_MISMATCH  # type: ignore[union-attr]


def test_a_cut_off_tail_shows_against_the_recorded_head() -> None:
    events = _chain(5)
    assert verify_chain(events[:3]).ok  # links alone cannot tell
    report = verify_chain(events[:3], expected_head=events[-1].head)
    assert report.broken is not None and report.broken.reason == BreakReason.HEAD_MISMATCH
    assert report.verified == 3


def test_chain_head_rejects_a_malformed_previous_hash() -> None:
    with pytest.raises(AuditEventInvalid):
        ChainedEvent.after(ChainHead(seq=0, hash="00"), _event(1))
