"""Officers' queries on PostgreSQL and SQLite: each filter, keyset pages both ways, the
organisation/subject/job index, and refusals of malformed arguments."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from policy.audit import Outcome
from service.audit.query import AuditFilter, Order, query_events, refresh_log
from service.audit.refs import EventRefs, declared_refs
from service.auth import (
    accept_aup,
    create_api_key,
    create_organisation,
    create_user,
    grant_role,
    vet_organisation,
)
from service.db.models import KeyEnvironment, Role
from service.errors import RequestInvalid
from tests.service.audit.access_support import (  # noqa: F401 (fixtures)
    KEYRING,
    T0,
    access_engine,
    access_session,
    add,
    context,
    source,
)


def _seqs(session: Session, flt: AuditFilter, **options) -> list[int]:
    return [r.seq for r in query_events(session, flt, limit=500, **options).records]


def _actions(session: Session, flt: AuditFilter) -> list[str]:
    return [r.action for r in query_events(session, flt, order=Order.OLDEST, limit=500).records]


def test_each_filter_selects_its_events(access_session: Session) -> None:
    s = source()
    add(access_session, f"{s}:consent:approve", "consent:1", minutes=0, actor="user:officer")
    add(access_session, f"{s}:consent:revoke", "consent:1", minutes=10, actor="user:officer")
    add(access_session, f"{s}:job:submit", "job:1", minutes=20, actor="api_key:k1",
        outcome=Outcome.DENIED)
    add(access_session, f"{s}:job_x:submit", "job:2", minutes=30, actor="api_key:k2")
    add(access_session, f"{s}x:job:submit", "job:3", minutes=40, actor="api_key:k1")
    refresh_log(access_session)
    mine = AuditFilter(action=f"{s}:")
    assert _actions(access_session, mine) == [f"{s}:consent:approve", f"{s}:consent:revoke",
                                         f"{s}:job:submit", f"{s}:job_x:submit"]
    assert _actions(access_session, AuditFilter(action=f"{s}:job")) == [
        f"{s}:job:submit", f"{s}:job_x:submit"]
    # "_" is a literal in the prefix, not LIKE's any-character wildcard.
    assert _actions(access_session, AuditFilter(action=f"{s}:job_")) == [f"{s}:job_x:submit"]
    assert _actions(access_session, AuditFilter(action=f"{s}:job:")) == [f"{s}:job:submit"]
    by_actor = AuditFilter(action=s, actor="api_key:k1")
    assert _actions(access_session, by_actor) == [f"{s}:job:submit", f"{s}x:job:submit"]
    denied = AuditFilter(action=s, outcome=Outcome.DENIED)
    assert _actions(access_session, denied) == [f"{s}:job:submit"]
    window = AuditFilter(action=s, since=T0 + timedelta(minutes=10),
                         until=T0 + timedelta(minutes=30))
    assert _actions(access_session, window) == [f"{s}:consent:revoke", f"{s}:job:submit"]


def _walk(session: Session, flt: AuditFilter, order: Order, s: str) -> tuple[list[int], int]:
    """Every page of 5; after the second page one more event arrives."""
    seen, cursor, pages = [], None, 0
    while True:
        page = query_events(session, flt, order=order, cursor=cursor, limit=5)
        seen += [r.seq for r in page.records]
        pages += 1
        if page.next_cursor is None:
            return seen, pages
        cursor = page.next_cursor
        if pages == 2:
            add(session, f"{s}:thing:touch", "thing:late", minutes=99)
            refresh_log(session)


def test_keyset_pages_cover_every_event_once_in_both_orders(access_session: Session) -> None:
    s = source()
    for i in range(23):
        add(access_session, f"{s}:thing:touch", f"thing:{i}", minutes=i)
    refresh_log(access_session)
    flt = AuditFilter(action=f"{s}:")
    everything = _seqs(access_session, flt, order=Order.OLDEST)
    assert len(everything) == 23 and everything == sorted(everything)
    # Newest first: an event arriving mid-way is newer than the cursor, so no page changes.
    seen, pages = _walk(access_session, flt, Order.NEWEST, s)
    assert seen == everything[::-1] and pages == 5
    # Oldest first: the walk goes on into what arrived (the last event and the one before).
    seen, pages = _walk(access_session, flt, Order.OLDEST, s)
    late = _seqs(access_session, AuditFilter(action=f"{s}:", since=T0 + timedelta(minutes=99)),
                 order=Order.OLDEST)
    assert len(late) == 2 and seen == everything + late and pages == 5
    assert _seqs(access_session, flt, order=Order.NEWEST) == (everything + late)[::-1]


def test_partner_subject_and_job_filters_follow_the_rows_an_event_names(
        access_session: Session) -> None:
    setup = context("system:test")
    tag = secrets.token_hex(4)
    operator = create_user(access_session, setup, email=f"op-{tag}@q.test", display_name="Op")
    grant_role(access_session, setup, user_id=operator.id, role=Role.OPERATOR)
    org = create_organisation(access_session, setup, name="Studio", declared_use_case="dubbing")
    partner = create_user(access_session, setup, email=f"p-{tag}@q.test", display_name="P")
    grant_role(access_session, setup, user_id=partner.id, role=Role.PARTNER, organisation_id=org.id,
               granted_by=operator.id)
    accept_aup(access_session, setup, organisation_id=org.id, user_id=partner.id,
               aup_version="2026-11")
    vet_organisation(access_session, setup, organisation_id=org.id, operator_id=operator.id)
    key = create_api_key(access_session, setup, organisation_id=org.id, created_by=partner.id,
                         name="k", scopes=["jobs:read"], environment=KeyEnvironment.LIVE,
                         pepper=b"p" * 32)
    subject_id, job_id, s = uuid.uuid4(), uuid.uuid4(), source()
    add(access_session, f"{s}:job:read", f"job:{job_id}", actor=f"api_key:{key.key_id}")
    add(access_session, f"{s}:subject:note", "note:1", payload={"subject_id": str(subject_id)})
    add(access_session, f"{s}:other:thing", "thing:1")
    refresh_log(access_session)

    by_org = AuditFilter(organisation_id=org.id)
    assert {r.action for r in query_events(access_session, by_org, limit=500).records} >= {
        "org:organisation:create", "org:organisation:vet", "auth:api_key:create", f"{s}:job:read"}
    found = query_events(access_session, AuditFilter(job_id=job_id)).records
    assert [(r.action, r.refs) for r in found] == [
        (f"{s}:job:read", EventRefs(org.id, None, job_id))]
    assert _actions(access_session, AuditFilter(subject_id=subject_id)) == [f"{s}:subject:note"]
    assert _actions(access_session, AuditFilter(action=s, organisation_id=uuid.uuid4())) == []


def test_declared_refs_read_resource_and_payload() -> None:
    org, subject, job = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert declared_refs(f"organisation:{org}", {}) == EventRefs(org, None, None)
    assert declared_refs(f"job:{job}", {"subject_id": str(subject), "organisation_id": "x"}) \
        == EventRefs(None, subject, job)
    assert declared_refs("job:not-a-uuid", {"job_id": 7}) == EventRefs()


def test_a_page_opens_personal_fields(access_session: Session) -> None:
    from service.audit.personal import seal_fields

    s, owner = source(), f"subject:{uuid.uuid4()}"
    sealed = seal_fields(access_session, context(), owner, {"display_name": "Ada Actor"})
    add(access_session, f"{s}:subject:register", owner, payload=sealed)
    refresh_log(access_session)
    [opened] = query_events(access_session, AuditFilter(action=s), keyring=KEYRING).records
    [closed] = query_events(access_session, AuditFilter(action=s)).records
    assert opened.payload == {"display_name": "Ada Actor"}
    assert closed.payload == {"display_name": "[sealed]"}
    assert opened.stored_payload == closed.stored_payload == sealed


@pytest.mark.parametrize("arguments", [
    {"limit": 0}, {"limit": 501}, {"cursor": -1},
])
def test_bad_page_arguments_are_refused(access_session: Session, arguments) -> None:
    with pytest.raises(RequestInvalid):
        query_events(access_session, AuditFilter(), **arguments)


@pytest.mark.parametrize("fields", [
    {"since": T0.replace(tzinfo=None)}, {"since": T0, "until": T0},
    {"action": "Compliance:"}, {"action": "job%"}, {"actor": ""},
])
def test_bad_filters_are_refused(fields) -> None:
    with pytest.raises(RequestInvalid) as refused:
        AuditFilter(**fields)
    assert refused.value.code == "request_invalid"
