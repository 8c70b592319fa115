"""One audit event as an immutable value, and its canonical byte encoding.

The chain hashes bytes, so the encoding must be the same on every machine and after a database
round trip: JSON with sorted keys, no whitespace, UTF-8, no NaN/Infinity, times as UTC ISO 8601
with microseconds and a ``Z``. The payload is kept as its canonical JSON text (not a dict) so
an event cannot be changed after it was hashed; ``payload`` decodes a fresh copy.

Actions are tags of the form ``source:subject:action`` (``org:organisation:vet``,
``auth:api_key:create``), so audit queries can filter on any part.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policy.errors import AuditEventInvalid

ENCODING_VERSION = 1
_ACTION = re.compile(r"[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*")
_MAX_FIELD = 200
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_REQUIRED_KEYS = frozenset({"v", "actor", "action", "resource", "outcome", "occurred_at",
                            "request_id", "payload"})


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    DENIED = "denied"  # refused by a rule (bad credential, missing consent): nothing changed
    FAILURE = "failure"  # attempted and failed (worker error)


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` (raises ``AuditEventInvalid`` if it is not plain JSON)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AuditEventInvalid(f"audit payload is not plain JSON: {exc}", field="payload") from exc


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditEvent:
    """Who did what to which resource, with what outcome, when. Build with ``AuditEvent.of``."""

    actor: str  # "user:<uuid>", "api_key:<key id>", "system:<component>", "anonymous"
    action: str  # "source:subject:action"
    resource: str  # "organisation:<uuid>", "api_key:<key id>", ...
    outcome: Outcome
    occurred_at: datetime  # timezone-aware, normalised to UTC
    request_id: str | None
    payload_json: str  # canonical JSON object
    # Where the request came from (an address or a pseudonym of it). Encoded only when set, so
    # events stored before the field existed keep their exact bytes and hashes.
    client_address: str | None = None

    def __post_init__(self) -> None:
        for name in ("actor", "action", "resource"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= _MAX_FIELD:
                raise AuditEventInvalid(f"audit {name} must be 1-{_MAX_FIELD} characters",
                                        field=name)
        if not _ACTION.fullmatch(self.action):
            raise AuditEventInvalid(f"audit action {self.action!r} is not source:subject:action "
                                    "in lowercase snake_case", field="action")
        if self.request_id is not None and not 0 < len(self.request_id) <= _MAX_FIELD:
            raise AuditEventInvalid("audit request id must be 1-200 characters", field="request_id")
        if self.client_address is not None and not _is_address(self.client_address):
            raise AuditEventInvalid(f"audit client address must be 1-{_MAX_FIELD} printable "
                                    "characters without spaces", field="client_address")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise AuditEventInvalid("audit time must be timezone-aware", field="occurred_at")
        if self.occurred_at.tzinfo is not UTC:
            object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        decoded = _decode_payload(self.payload_json)
        if canonical_json(decoded) != self.payload_json:
            raise AuditEventInvalid("audit payload text is not canonical JSON", field="payload")

    @classmethod
    def of(cls, *, actor: str, action: str, resource: str, occurred_at: datetime,
           outcome: Outcome = Outcome.SUCCESS, request_id: str | None = None,
           payload: Mapping[str, Any] | None = None,
           client_address: str | None = None) -> AuditEvent:
        return cls(actor=actor, action=action, resource=resource, outcome=outcome,
                   occurred_at=occurred_at, request_id=request_id,
                   payload_json=canonical_json(dict(payload or {})),
                   client_address=client_address)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AuditEvent:
        """The event whose ``document()`` is exactly ``document`` (an export's event object).

        Refuses anything that would not re-encode to the same bytes (unknown or missing keys,
        another encoding version, a time not in the canonical form), so a verifier hashes what
        was exported and nothing else.
        """
        if not isinstance(document, Mapping):
            raise AuditEventInvalid("audit event document must be a JSON object", field="event")
        keys = set(document)
        allowed = _REQUIRED_KEYS | {"client_address"}
        if not _REQUIRED_KEYS <= keys <= allowed:
            raise AuditEventInvalid(
                f"audit event document keys: missing {sorted(_REQUIRED_KEYS - keys)}, "
                f"unknown {sorted(keys - allowed)}", field="event")
        if type(document["v"]) is not int or document["v"] != ENCODING_VERSION:
            raise AuditEventInvalid(f"audit event encoding version {document['v']!r} is not "
                                    f"{ENCODING_VERSION}", field="v")
        if "client_address" in document and document["client_address"] is None:
            raise AuditEventInvalid("an absent client address is left out, not null",
                                    field="client_address")
        for name in ("actor", "action", "resource", "outcome", "occurred_at"):
            if not isinstance(document[name], str):
                raise AuditEventInvalid(f"audit {name} must be a string", field=name)
        if not _TIME.fullmatch(document["occurred_at"]):
            raise AuditEventInvalid("audit time must be YYYY-MM-DDTHH:MM:SS.ffffffZ",
                                    field="occurred_at")
        if document["outcome"] not in {o.value for o in Outcome}:
            raise AuditEventInvalid(f"unknown audit outcome {document['outcome']!r}",
                                    field="outcome")
        try:
            occurred_at = datetime.strptime(document["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError as exc:
            raise AuditEventInvalid(f"audit time is not a date: {exc}",
                                    field="occurred_at") from exc
        if not isinstance(document["payload"], dict):
            raise AuditEventInvalid("audit payload must be a JSON object", field="payload")
        event = cls(actor=document["actor"], action=document["action"],
                    resource=document["resource"], outcome=Outcome(document["outcome"]),
                    occurred_at=occurred_at.replace(tzinfo=UTC),
                    request_id=_optional_text(document["request_id"], "request_id"),
                    payload_json=canonical_json(document["payload"]),
                    client_address=_optional_text(document.get("client_address"),
                                                  "client_address"))
        if canonical_json(dict(document)).encode("utf-8") != event.canonical_bytes():
            raise AuditEventInvalid("audit event document does not re-encode to the same bytes",
                                    field="event")
        return event

    @property
    def payload(self) -> dict[str, Any]:
        """A fresh decoded copy of the payload."""
        return json.loads(self.payload_json)

    def document(self) -> dict[str, Any]:
        """The canonical document: a fresh plain-JSON dict (what an export writes)."""
        document = {
            "v": ENCODING_VERSION,
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome.value,
            "occurred_at": format_time(self.occurred_at),
            "request_id": self.request_id,
            "payload": json.loads(self.payload_json),
        }
        if self.client_address is not None:
            document["client_address"] = self.client_address
        return document

    def canonical_bytes(self) -> bytes:
        """The exact bytes the chain hashes (and the Merkle tree's leaf data)."""
        return canonical_json(self.document()).encode("utf-8")


def _is_address(value: str) -> bool:
    return (isinstance(value, str) and 0 < len(value) <= _MAX_FIELD and value.isprintable()
            and not any(char.isspace() for char in value))


def _optional_text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise AuditEventInvalid(f"audit {name} must be a string or null", field=name)
    return value


def _decode_payload(text: str) -> dict[str, Any]:
    try:
        decoded = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise AuditEventInvalid(f"audit payload is not JSON: {exc}", field="payload") from exc
    if not isinstance(decoded, dict):
        raise AuditEventInvalid("audit payload must be a JSON object", field="payload")
    return decoded
