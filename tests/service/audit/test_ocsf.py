"""The OCSF API Activity (class 6003) mapping of audit events, field by field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from policy.audit import Outcome
from service.audit.ocsf import to_ocsf
from service.audit.query import AuditRecord
from service.audit.refs import EventRefs

ORG, SUBJECT, JOB = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
WHEN = datetime(2026, 11, 24, 12, 0, 1, 250000, tzinfo=UTC)


def _record(action: str = "job:job:submit", *, actor: str = "api_key:abcdefgh",
            outcome: Outcome = Outcome.SUCCESS, resource: str = f"job:{JOB}",
            client_address: str | None = "198.51.100.4",
            payload: dict | None = None) -> AuditRecord:
    payload = payload if payload is not None else {"purpose": "dubbing"}
    return AuditRecord(seq=42, occurred_at=WHEN, actor=actor, action=action, resource=resource,
                       outcome=outcome, request_id="req-9", client_address=client_address,
                       payload=payload, prev_hash="a" * 64, hash="b" * 64,
                       refs=EventRefs(ORG, SUBJECT, JOB), stored_payload=payload)


def test_a_partner_submission_maps_every_required_attribute() -> None:
    event = to_ocsf(_record(), "1.2.3")
    assert (event["class_uid"], event["category_uid"]) == (6003, 6)
    assert (event["activity_id"], event["activity_name"], event["type_uid"]) == (
        1, "Create", 600301)
    assert event["time"] == 1795521601250  # milliseconds since the epoch (date -u +%s)
    assert (event["status_id"], event["status"], event["status_code"]) == (1, "Success",
                                                                           "success")
    assert (event["severity_id"], event["severity"]) == (1, "Informational")
    assert event["actor"]["user"] == {"uid": "api_key:abcdefgh", "type_id": 99,
                                      "type": "Partner", "credential_uid": "abcdefgh",
                                      "org": {"uid": str(ORG)}}
    assert event["api"] == {"operation": "job:job:submit", "service": {"name": "likeness"},
                            "request": {"uid": "req-9"}}
    assert event["resources"] == [{"uid": str(JOB), "type": "job"},
                                  {"uid": str(ORG), "type": "organisation"},
                                  {"uid": str(SUBJECT), "type": "subject"}]
    assert event["src_endpoint"] == {"ip": "198.51.100.4"}
    assert event["metadata"] == {
        "version": "1.3.0", "uid": "42", "log_name": "audit", "correlation_uid": "req-9",
        "product": {"name": "likeness", "vendor_name": "likeness", "version": "1.2.3"}}
    assert event["unmapped"] == {"payload": {"purpose": "dubbing"}, "hash": "b" * 64,
                                 "prev_hash": "a" * 64}
    assert "status_detail" not in event


@pytest.mark.parametrize(("outcome", "status", "severity"), [
    (Outcome.DENIED, (2, "Failure"), (3, "Medium")),
    (Outcome.FAILURE, (2, "Failure"), (2, "Low")),
])
def test_refusals_and_failures_are_failures_with_their_reason(outcome, status, severity) -> None:
    event = to_ocsf(_record(outcome=outcome, payload={"reason": "consent_pending"}), "1")
    assert (event["status_id"], event["status"]) == status
    assert (event["severity_id"], event["severity"]) == severity
    assert event["status_code"] == outcome.value
    assert event["status_detail"] == "consent_pending"


@pytest.mark.parametrize(("action", "activity"), [
    ("partner:artifact:download", 2), ("public:artifact:verify", 2),
    ("compliance:audit:export", 2), ("compliance:consent:approve", 3),
    ("compliance:consent:revoke", 3), ("job:job:cancel", 3),
    ("webhooks:endpoint:delete", 4), ("compliance:personal_data:erase", 4),
    ("retention:asset:purge", 4), ("auth:api_key:create", 1), ("release:artifact:sign", 1),
    ("something:odd:happened", 99),
])
def test_the_verb_decides_the_activity(action: str, activity: int) -> None:
    event = to_ocsf(_record(action), "1")
    assert event["activity_id"] == activity and event["type_uid"] == 600300 + activity


@pytest.mark.parametrize(("actor", "user_type"), [
    ("user:7", (1, "User")), ("system:worker:host", (3, "System")),
    ("cli:alice", (1, "Operator")), ("anonymous", (0, "Unknown")),
])
def test_actors_get_a_user_type_and_internal_events_no_address(actor, user_type) -> None:
    event = to_ocsf(_record(actor=actor, client_address=None), "1")
    user = event["actor"]["user"]
    assert (user["type_id"], user["type"]) == user_type and user["uid"] == actor
    assert "credential_uid" not in user and "org" not in user
    assert event["src_endpoint"] == {"name": "internal"}
