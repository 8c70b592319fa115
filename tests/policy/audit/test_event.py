"""An event's optional client address (encoded only when present, so older events keep their
bytes) and rebuilding an event from its exported canonical document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from policy.audit import GENESIS, AuditEvent, ChainedEvent, Outcome
from policy.errors import AuditEventInvalid

T0 = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


def _event(**changes: Any) -> AuditEvent:
    fields: dict[str, Any] = dict(actor="user:0", action="org:organisation:vet",
                                  resource="organisation:0", occurred_at=T0,
                                  payload={"n": 0, "note": "vetted ✓", "ratio": 0.1})
    fields.update(changes)
    return AuditEvent.of(**fields)


def test_an_absent_client_address_leaves_the_bytes_and_hash_unchanged() -> None:
    event = _event()
    assert event.client_address is None and "client_address" not in event.document()
    # The same link test_chain pins, built before the field existed.
    assert (ChainedEvent.after(GENESIS, event).hash
            == "2f88ceee101754a58df7ac95a96214a7c7e26de44378c3f8a915bceb46c0cc80")


def test_a_client_address_is_encoded_and_hashed() -> None:
    event = _event(client_address="2001:db8::1")
    assert event.document()["client_address"] == "2001:db8::1"
    assert b'"client_address":"2001:db8::1"' in event.canonical_bytes()
    assert ChainedEvent.after(GENESIS, event).hash != ChainedEvent.after(GENESIS, _event()).hash


@pytest.mark.parametrize("address", ["", "x" * 201, "10.0.0.1 ", "a\nb", "a\u2028b", 17])
def test_malformed_client_addresses_are_refused(address: object) -> None:
    with pytest.raises(AuditEventInvalid) as info:
        _event(client_address=address)
    assert info.value.context["field"] == "client_address"


@pytest.mark.parametrize("event", [
    _event(),
    _event(client_address="testclient", request_id="req-1", outcome=Outcome.FAILURE),
    _event(payload={"nested": {"list": [1, 2.5, None, True, "é"]}, "empty": {}}),
])
def test_an_event_rebuilds_exactly_from_its_document(event: AuditEvent) -> None:
    document = json.loads(json.dumps(event.document()))  # as an export reads it back
    rebuilt = AuditEvent.from_document(document)
    assert rebuilt == event and rebuilt.canonical_bytes() == event.canonical_bytes()


def _document(**changes: Any) -> dict[str, Any]:
    document = _event(client_address="10.0.0.1").document()
    document.update(changes)
    return {key: value for key, value in document.items() if value is not ...}


@pytest.mark.parametrize("document, field", [
    (_document(v=2), "v"), (_document(v=True), "v"), (_document(v=1.0), "v"),
    (_document(actor=...), "event"), (_document(extra=1), "event"),
    (_document(client_address=None), "client_address"),
    (_document(client_address=5), "client_address"),
    (_document(occurred_at="2026-11-24T12:00:00Z"), "occurred_at"),
    (_document(occurred_at="2026-11-24T12:00:00.123456+00:00"), "occurred_at"),
    (_document(occurred_at="2026-02-30T12:00:00.000000Z"), "occurred_at"),
    (_document(occurred_at="٢٠٢٦-11-24T12:00:00.000000Z"), "occurred_at"),
    (_document(outcome="maybe"), "outcome"), (_document(actor=7), "actor"),
    (_document(payload=[1]), "payload"), (_document(request_id=3), "request_id"),
    (_document(action="Vet"), "action"), ([("v", 1)], "event"),
])
def test_malformed_documents_are_refused(document: Any, field: str) -> None:
    with pytest.raises(AuditEventInvalid) as info:
        AuditEvent.from_document(document)
    assert info.value.context["field"] == field
