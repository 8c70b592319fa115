"""Personal fields in audit events: sealed under per-person keys, never stored in clear, and
crypto-shredded by erasure while the log keeps verifying (PostgreSQL and SQLite)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.audit.personal import (
    ERASED,
    UNREADABLE,
    AuditKeyring,
    PayloadOpener,
    erase_person,
    seal_fields,
)
from service.audit.query import AuditFilter, query_events, refresh_log
from service.audit.verify import verify_audit_log
from service.auth import create_user
from service.db.models import AuditEventRow, AuditPersonalKey
from service.errors import KeysError, PepperInvalid, PersonalDataErased, RequestInvalid
from service.settings import Settings
from tests.service.audit.access_support import (  # noqa: F401 (fixtures)
    KEYRING,
    SIGNER,
    access_engine,
    access_session,
    add,
    checkpoint,
    context,
    source,
)


def _subject() -> str:
    return f"subject:{uuid.uuid4()}"


def _stored_text(session: Session, action: str) -> str:
    """Everything stored for the action's events, as the database holds it."""
    rows = session.execute(select(AuditEventRow.payload, AuditEventRow.hash)
                           .where(AuditEventRow.action == action)).all()
    return repr([tuple(row) for row in rows])


def test_sealed_fields_never_reach_the_log_in_clear_and_open_for_officers(
        access_session: Session) -> None:
    s, owner = source(), _subject()
    sealed = seal_fields(access_session, context(), owner,
                         {"display_name": "Ada Lovelace", "external_ref": None})
    assert sealed["external_ref"] is None and set(sealed["display_name"]) == {"enc", "kid"}
    assert sealed["display_name"]["kid"] == owner
    add(access_session, f"{s}:subject:register", owner, payload=sealed)
    refresh_log(access_session)
    assert "Ada Lovelace" not in _stored_text(access_session, f"{s}:subject:register")
    wrapped = access_session.scalar(select(AuditPersonalKey.wrapped_key)
                                .where(AuditPersonalKey.owner == owner))
    assert wrapped is not None and len(wrapped) == 1 + 12 + 32 + 16
    [found] = query_events(access_session, AuditFilter(action=s), keyring=KEYRING).records
    assert found.payload == {"display_name": "Ada Lovelace", "external_ref": None}


def test_erasure_shreds_the_fields_and_the_log_still_verifies(access_session: Session,
                                                             tmp_path: Path) -> None:
    s, owner, other = source(), _subject(), _subject()
    for who, name in ((owner, "Grace Hopper"), (other, "Alan Turing")):
        add(access_session, f"{s}:subject:register", who,
            payload=seal_fields(access_session, context(), who, {"display_name": name}))
    checkpoint(access_session, SIGNER, tmp_path)
    assert erase_person(access_session, context("user:officer"), owner, reason="erasure request 7")
    assert not erase_person(access_session, context("user:officer"), owner, reason="again")
    refresh_log(access_session)
    names = {r.resource: r.payload["display_name"] for r in query_events(
        access_session, AuditFilter(action=f"{s}:subject:"), keyring=KEYRING).records}
    assert names == {owner: ERASED, other: "Alan Turing"}
    erased = query_events(access_session, AuditFilter(action="compliance:personal_data:erase",
                                                  actor="user:officer")).records
    assert [(r.resource, r.payload["key_destroyed"]) for r in erased][:2] == [
        (owner, False), (owner, True)]
    report = verify_audit_log(access_session, SIGNER.verifier, tmp_path)
    assert report.ok, report.broken
    with pytest.raises(PersonalDataErased) as refused:
        seal_fields(access_session, context(), owner, {"display_name": "Grace"})
    assert refused.value.context["owner"] == owner


def test_a_person_erased_before_any_sealing_stays_erased(access_session: Session) -> None:
    owner = _subject()
    assert not erase_person(access_session, context(), owner, reason="never recorded")
    with pytest.raises(PersonalDataErased):
        seal_fields(access_session, context(), owner, {"email": "x@y.test"})


def test_a_sealed_value_moved_to_another_field_or_person_does_not_open(
        access_session: Session) -> None:
    owner, other = _subject(), _subject()
    sealed = seal_fields(access_session, context(), owner, {"display_name": "Ada"})["display_name"]
    seal_fields(access_session, context(), other, {"display_name": "Bob"})
    opener = PayloadOpener(access_session, KEYRING)
    assert opener.open({"display_name": sealed}) == {"display_name": "Ada"}
    assert opener.open({"external_ref": sealed}) == {"external_ref": UNREADABLE}
    moved = dict(sealed, kid=other)
    assert opener.open({"display_name": moved}) == {"display_name": UNREADABLE}
    assert opener.open({"nested": [{"display_name": sealed}]}) == {
        "nested": [{"display_name": "Ada"}]}


def test_without_the_master_key_nothing_is_written_in_clear_or_read(
        access_session: Session) -> None:
    owner = _subject()
    assert seal_fields(access_session, context(keyring=None), owner, {"email": "a@b.test"}) == {
        "email": {"withheld": True}}
    assert access_session.get(AuditPersonalKey, owner) is None
    sealed = seal_fields(access_session, context(), owner, {"email": "a@b.test"})
    with pytest.raises(KeysError):  # another master key: the data key does not unwrap
        PayloadOpener(access_session, AuditKeyring(os.urandom(32))).open(sealed)


def test_user_emails_are_sealed_under_the_users_key(access_session: Session) -> None:
    user = create_user(access_session, context("cli:admin"), email="Eve.Officer@example.test",
                       display_name="Eve")
    refresh_log(access_session)
    [event] = query_events(access_session, AuditFilter(action="auth:user:create",
                                                   actor="cli:admin"), keyring=KEYRING).records
    assert event.resource == f"user:{user.id}"
    assert event.payload == {"email": "eve.officer@example.test"}
    assert event.stored_payload["email"]["kid"] == f"user:{user.id}"
    raw = access_session.execute(text("SELECT payload FROM audit_events WHERE seq = :seq"),
                             {"seq": event.seq}).scalar_one()
    assert "example.test" not in str(raw)


def test_master_keys_come_from_settings_or_a_created_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = AuditKeyring.from_settings(settings)
    assert settings.audit_personal_key_file.stat().st_mode & 0o777 == 0o600
    again = AuditKeyring.from_settings(settings)
    wrapped = first.wrap("user:1", b"k" * 32)
    assert again.unwrap("user:1", wrapped) == b"k" * 32
    with pytest.raises(PepperInvalid):
        AuditKeyring.from_settings(Settings(data_dir=tmp_path, audit_personal_key="zz"))
    with pytest.raises(PepperInvalid):
        AuditKeyring(b"short")
    with pytest.raises(RequestInvalid):
        seal_fields(None, context(), "organisation:1", {"name": "x"})  # type: ignore[arg-type]
