"""Registering a subject makes a pending consent; only a compliance officer reviews it, and
every decision is in the audit chain."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db import verify_audit_chain
from service.db.models import AuditEventRow
from tests.service.api.conftest import (
    PDF,
    World,
    biden,
    error_code,
    expiry,
    face,
    register,
    registered_subject,
    speech,
    upload,
)


def _events(engine: Engine, resource: str) -> list[AuditEventRow]:
    sequence_pending(engine)
    with Session(engine) as session:
        return list(session.scalars(select(AuditEventRow).where(
            AuditEventRow.resource == resource).order_by(AuditEventRow.seq)))


def test_register_subject_creates_a_pending_consent(api: World) -> None:
    subject = registered_subject(api)
    assert len(subject["reference_asset_ids"]) == 1
    (consent,) = subject["consents"]
    assert consent["status"] == "pending"
    assert consent["purposes"] == ["advertising", "dubbing"]
    events = _events(api.engine, f"consent:{consent['id']}")
    assert [e.action for e in events] == ["partner:consent:request"]
    assert events[0].actor.startswith("api_key:") and events[0].request_id
    fetched = api.client.get(f"/v1/subjects/{subject['id']}", headers=api.headers())
    assert fetched.status_code == 200 and fetched.json()["consents"][0]["id"] == consent["id"]


def test_recorded_statement_is_accepted_as_evidence(api: World) -> None:
    asset = upload(api, face("obama2.jpg")).json()
    response = register(api, [asset["id"]], evidence=speech(3.0))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("evidence", "status", "code"), [
    (PDF[:-7], 422, "upload_corrupt"),
    (b"", 400, "upload_empty"),
    (b"MZ\x90\x00" + b"\0" * 64, 415, "upload_type_unsupported"),
])
def test_bad_evidence_is_refused(api: World, evidence: bytes, status: int, code: str) -> None:
    asset = upload(api, face("obama.jpg")).json()
    response = register(api, [asset["id"]], evidence=evidence)
    assert response.status_code == status and error_code(response) == code


def test_registration_checks_purposes_references_and_expiry(api: World) -> None:
    obama, other = upload(api, face("obama.jpg")).json(), upload(api, biden()).json()
    unknown = register(api, [obama["id"]], purposes=["surveillance"])
    assert unknown.status_code == 422 and error_code(unknown) == "purpose_unknown"
    mixed = register(api, [obama["id"], other["id"]])
    assert mixed.status_code == 422 and error_code(mixed) == "face_mismatch"
    past = register(api, [obama["id"]], expires_at="2020-01-01T00:00:00Z")
    assert past.status_code == 422 and error_code(past) == "request_invalid"
    foreign = register(api, [obama["id"]], key=api.other_key)
    assert foreign.status_code == 404


def test_partners_see_only_their_own_subjects(api: World) -> None:
    subject = registered_subject(api)
    for key in (api.other_key, api.test_key):
        response = api.client.get(f"/v1/subjects/{subject['id']}", headers=api.headers(key))
        assert response.status_code == 404


def test_officer_routes_refuse_partners(api: World) -> None:
    subject = registered_subject(api)
    consent_id = subject["consents"][0]["id"]
    for path, body in ((f"/v1/consents/{consent_id}/approve",
                        {"purposes": ["dubbing"], "expires_at": expiry()}),
                       (f"/v1/consents/{consent_id}/reject", {"reason": "no"})):
        response = api.client.post(path, json=body, headers=api.headers())
        assert response.status_code == 403 and error_code(response) == "role_missing"
    listing = api.client.get("/v1/consents?status=pending", headers=api.headers())
    assert listing.status_code == 403


def test_officer_approves_then_revokes_with_audit(api: World) -> None:
    consent_id = registered_subject(api)["consents"][0]["id"]
    queue = api.client.get("/v1/consents", params={"status": "pending", "limit": 200},
                           headers=api.officer())
    assert queue.status_code == 200
    assert consent_id in [c["id"] for c in queue.json()["items"]]
    evidence = api.client.get(f"/v1/consents/{consent_id}/evidence", headers=api.officer())
    assert evidence.status_code == 200 and evidence.content == PDF
    wider = api.client.post(f"/v1/consents/{consent_id}/approve", headers=api.officer(),
                            json={"purposes": ["dubbing", "education"], "expires_at": expiry()})
    assert wider.status_code == 422 and error_code(wider) == "request_invalid"
    approved = api.client.post(f"/v1/consents/{consent_id}/approve", headers=api.officer(),
                               json={"purposes": ["dubbing"], "expires_at": expiry(10)})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["purposes"] == ["dubbing"]
    again = api.client.post(f"/v1/consents/{consent_id}/reject", headers=api.officer(),
                            json={"reason": "late"})
    assert again.status_code == 409 and error_code(again) == "state_conflict"
    revoked = api.client.post(f"/v1/consents/{consent_id}/revoke", headers=api.officer(),
                              json={"reason": "the subject withdrew consent"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    events = _events(api.engine, f"consent:{consent_id}")
    assert [e.action for e in events] == ["partner:consent:request",
                                          "compliance:consent:approve",
                                          "compliance:consent:revoke"]
    assert events[1].actor == f"user:{api.officer_id}"
    assert events[2].payload["reason"] == "the subject withdrew consent"
    with Session(api.engine) as session:
        assert verify_audit_chain(session).ok


def test_officer_rejects_with_a_reason(api: World) -> None:
    consent_id = registered_subject(api)["consents"][0]["id"]
    empty = api.client.post(f"/v1/consents/{consent_id}/reject", headers=api.officer(),
                            json={"reason": ""})
    assert empty.status_code == 422
    rejected = api.client.post(f"/v1/consents/{consent_id}/reject", headers=api.officer(),
                               json={"reason": "the form is unsigned"})
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reason"] == "the form is unsigned"
    revoke = api.client.post(f"/v1/consents/{consent_id}/revoke", headers=api.officer(),
                             json={"reason": "x"})
    assert revoke.status_code == 409
    events = _events(api.engine, f"consent:{consent_id}")
    assert events[-1].action == "compliance:consent:reject"
