"""The officer-only path for subjects who are not living persons able to consent: a written
justification is required, only a compliance officer may grant, and the grant is recorded as
such (basis, category, justification, audit action) - over HTTP and from the CLI."""

from __future__ import annotations

import uuid
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from service.cli import main
from service.db import make_engine
from service.db.engine import make_session_factory, session_scope
from service.db.models import (
    Consent,
    ConsentBasis,
    ConsentStatus,
    NonlivingCategory,
    Subject,
)
from service.db.types import utcnow
from service.domain.face_templates import TemplateBox
from service.domain.gate import check_consent
from service.domain.uploads import UploadLimits, validate_portrait
from service.settings import Settings
from tests.service.api.conftest import World, error_code, expiry, face
from tests.service.consent.conftest import audit_events, bare_subject

WHY = ("An oil painting from 1503, long in the public domain; the sitter died centuries ago "
       "and cannot consent, and the museum licensed the scan for education.")


def _grant(world: World, subject_id: str, headers: dict, **overrides: object):
    body = {"subject_id": subject_id, "category": "painting", "justification": WHY,
            "purposes": ["education"], "expires_at": expiry(30), "max_jobs": 5} | overrides
    return world.client.post("/v1/consents/nonliving", json=body, headers=headers)


def test_an_officer_grants_with_a_justification_recorded_as_such(api: World) -> None:
    subject = bare_subject(api)
    granted = _grant(api, subject["id"], api.officer())
    assert granted.status_code == 201, granted.text
    consent = granted.json()
    assert consent["status"] == "approved" and consent["basis"] == "nonliving"
    assert consent["nonliving_category"] == "painting" and consent["justification"] == WHY
    assert consent["purposes"] == ["education"] and consent["max_jobs"] == 5
    assert consent["organisation_id"] == str(api.org_id)
    [event] = audit_events(api.engine, f"consent:{consent['id']}")
    assert event.action == "compliance:consent:grant_nonliving"
    assert event.actor == f"user:{api.officer_id}"
    assert event.payload["justification"] == WHY and event.payload["category"] == "painting"
    seen = api.client.get(f"/v1/subjects/{subject['id']}", headers=api.headers()).json()
    assert [c["basis"] for c in seen["consents"]] == ["nonliving"]


def test_the_grant_opens_the_gate_for_its_purpose_only(api: World) -> None:
    subject = bare_subject(api)
    assert _grant(api, subject["id"], api.officer()).status_code == 201
    encoding = validate_portrait(face("obama2.jpg"),
                                 UploadLimits.from_settings(api.settings)).face_encoding
    with session_scope(make_session_factory(api.engine)) as session:
        def decide(purpose: str):
            return check_consent(session, organisation_id=api.org_id,
                                 subject_id=subject["id"], purpose=purpose,
                                 portrait_encoding=encoding, now=utcnow(),
                                 templates=TemplateBox.from_settings(api.settings))
        assert decide("education").allowed
        assert decide("advertising").reason == "purpose_not_covered"


def test_partners_and_thin_justifications_are_refused(api: World) -> None:
    subject = bare_subject(api)
    partner = _grant(api, subject["id"], api.headers())
    assert partner.status_code == 403 and error_code(partner) == "role_missing"
    short = _grant(api, subject["id"], api.officer(), justification="it is a painting")
    assert short.status_code == 422 and error_code(short) == "request_invalid"
    padded = _grant(api, subject["id"], api.officer(), justification="a" + " " * 60 + "b")
    assert padded.status_code == 422 and error_code(padded) == "request_invalid"
    assert padded.json()["error"]["details"]["field"] == "justification"
    unknown = _grant(api, subject["id"], api.officer(), purposes=["surveillance"])
    assert unknown.status_code == 422 and error_code(unknown) == "purpose_unknown"
    category = _grant(api, subject["id"], api.officer(), category="living_actor")
    assert category.status_code == 422
    missing = _grant(api, "0193a0c0-0000-7000-8000-000000000000", api.officer())
    assert missing.status_code == 404
    seen = api.client.get(f"/v1/subjects/{subject['id']}", headers=api.headers()).json()
    assert seen["consents"] == []


def _run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])
    return result.exit_code, result.output


def test_the_cli_grants_for_an_officer_only(tmp_path: Path) -> None:
    assert _run(tmp_path, "db", "upgrade")[0] == 0
    for email, role in (("co@example.com", "compliance_officer"), ("op@example.com", "operator")):
        code, output = _run(tmp_path, "user", "create", email, "--name", "X", "--role", role)
        assert code == 0, output
    code, output = _run(tmp_path, "org", "create", "Museum", "--use-case", "art education")
    assert code == 0, output
    engine = make_engine(Settings(data_dir=tmp_path).database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            subject = Subject(organisation_id=uuid.UUID(output.split()[1]),
                              display_name="Mona Lisa")
            session.add(subject)
            session.flush()
            subject_id = str(subject.id)
        args = ["consent", "grant-nonliving", subject_id, "--category", "painting",
                "--justification", WHY, "--purpose", "education", "--expires", "2099-01-01"]
        code, output = _run(tmp_path, *args, "--officer", "op@example.com")
        assert code == 2 and "error [role_missing]" in output
        code, output = _run(tmp_path, *args[:6], "too short", *args[7:], "--officer",
                            "co@example.com")
        assert code == 2 and "error [request_invalid]" in output
        code, output = _run(tmp_path, *args, "--officer", "co@example.com")
        assert code == 0 and "non-living: painting" in output, output
        with session_scope(make_session_factory(engine)) as session:
            consent = session.scalars(select(Consent)).one()
            assert consent.status == ConsentStatus.APPROVED
            assert consent.basis == ConsentBasis.NONLIVING
            assert consent.nonliving_category == NonlivingCategory.PAINTING
        [event] = audit_events(engine, f"consent:{consent.id}")
        assert event.action == "compliance:consent:grant_nonliving"
        assert event.actor == "cli:co@example.com"
    finally:
        engine.dispose()
