"""Organisations, users and roles: who may vet and suspend, which transitions exist, and the
audit event each change appends."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.auth import (
    accept_aup,
    create_organisation,
    create_user,
    grant_role,
    has_role,
    suspend_organisation,
    vet_organisation,
)
from service.db import SqlAuditStore, verify_audit_chain
from service.db.models import OrganisationStatus, Role
from service.errors import NotFound, RequestInvalid, RoleMissing, StateConflict
from tests.service.auth.conftest import CLI, T0, World


def _last_events(session: Session, n: int) -> list[tuple[str, str, dict]]:
    sequence_pending(session)
    head = SqlAuditStore().head(session)
    events = SqlAuditStore().events(session, after_seq=head.seq - n)
    return [(e.event.action, e.event.resource, e.event.payload) for e in events]


def test_setting_up_an_organisation_is_audited(db_session: Session, world: World) -> None:
    organisation = world.organisation
    assert organisation.status == OrganisationStatus.PENDING
    assert organisation.aup_version == "2026-11" and organisation.aup_accepted_at == T0
    assert organisation.aup_accepted_by_id == world.partner.id
    assert [action for action, _, _ in _last_events(db_session, 7)] == [
        "auth:user:create", "auth:role:grant", "org:organisation:create", "auth:user:create",
        "auth:role:grant", "auth:user:create", "org:organisation:accept_aup"]
    _, resource, payload = _last_events(db_session, 1)[0]
    assert resource == f"organisation:{organisation.id}"
    assert payload == {"aup_version": "2026-11", "user_id": str(world.partner.id)}
    assert verify_audit_chain(db_session).ok


def test_only_operators_vet_and_suspend(db_session: Session, world: World) -> None:
    for user in (world.partner, world.outsider):
        with pytest.raises(RoleMissing):
            vet_organisation(db_session, CLI, organisation_id=world.organisation.id,
                             operator_id=user.id)
        with pytest.raises(RoleMissing):
            suspend_organisation(db_session, CLI, organisation_id=world.organisation.id,
                                 operator_id=user.id, reason="spam")
    assert world.organisation.status == OrganisationStatus.PENDING


def test_vetting_needs_the_acceptable_use_policy(db_session: Session, world: World) -> None:
    fresh = create_organisation(db_session, CLI, name="New", declared_use_case="ads", now=T0)
    with pytest.raises(StateConflict, match="acceptable use policy"):
        vet_organisation(db_session, CLI, organisation_id=fresh.id, operator_id=world.operator.id)
    with pytest.raises(RoleMissing):  # only the organisation's own partners accept it
        accept_aup(db_session, CLI, organisation_id=fresh.id, user_id=world.partner.id,
                   aup_version="2026-11")


def test_vet_suspend_reinstate(db_session: Session, world: World) -> None:
    org_id, operator = world.organisation.id, world.operator.id
    vetted = vet_organisation(db_session, CLI, organisation_id=org_id, operator_id=operator,
                              now=T0)
    assert (vetted.status, vetted.vetted_at, vetted.vetted_by_id) == (
        OrganisationStatus.VETTED, T0, operator)
    with pytest.raises(StateConflict):
        vet_organisation(db_session, CLI, organisation_id=org_id, operator_id=operator)
    with pytest.raises(RequestInvalid):
        suspend_organisation(db_session, CLI, organisation_id=org_id, operator_id=operator,
                             reason="  ")
    suspended = suspend_organisation(db_session, CLI, organisation_id=org_id,
                                     operator_id=operator, reason="deepfake complaint")
    assert suspended.status == OrganisationStatus.SUSPENDED
    assert suspended.suspended_reason == "deepfake complaint"
    with pytest.raises(StateConflict):
        suspend_organisation(db_session, CLI, organisation_id=org_id, operator_id=operator,
                             reason="again")
    reinstated = vet_organisation(db_session, CLI, organisation_id=org_id, operator_id=operator)
    assert reinstated.status == OrganisationStatus.VETTED and reinstated.suspended_at is None
    events = _last_events(db_session, 3)
    assert [(a, p["from"]) for a, _, p in events] == [
        ("org:organisation:vet", "pending"), ("org:organisation:suspend", "vetted"),
        ("org:organisation:vet", "suspended")]
    assert events[1][2]["reason"] == "deepfake complaint"
    with pytest.raises(NotFound):
        vet_organisation(db_session, CLI, organisation_id=uuid.uuid4(), operator_id=operator)


def test_role_grants_are_checked(db_session: Session, world: World) -> None:
    org_id = world.organisation.id
    with pytest.raises(RequestInvalid):
        grant_role(db_session, CLI, user_id=world.outsider.id, role=Role.PARTNER)
    with pytest.raises(RequestInvalid):
        grant_role(db_session, CLI, user_id=world.outsider.id, role=Role.VERIFIER,
                   organisation_id=org_id)
    with pytest.raises(RoleMissing):  # a partner cannot hand out roles
        grant_role(db_session, CLI, user_id=world.outsider.id, role=Role.VERIFIER,
                   granted_by=world.partner.id)
    with pytest.raises(StateConflict):
        grant_role(db_session, CLI, user_id=world.partner.id, role=Role.PARTNER,
                   organisation_id=org_id, granted_by=world.operator.id)
    grant_role(db_session, CLI, user_id=world.outsider.id, role=Role.COMPLIANCE_OFFICER,
               granted_by=world.operator.id)
    assert has_role(db_session, world.outsider.id, Role.COMPLIANCE_OFFICER)
    assert not has_role(db_session, world.partner.id, Role.PARTNER, uuid.uuid4())
    world.partner.disabled_at = T0
    db_session.flush()
    assert not has_role(db_session, world.partner.id, Role.PARTNER, org_id)


def test_user_fields_are_validated(db_session: Session, world: World) -> None:
    with pytest.raises(RequestInvalid):
        create_user(db_session, CLI, email="not-an-email", display_name="N")
    with pytest.raises(StateConflict):
        create_user(db_session, CLI, email=world.partner.email.upper(), display_name="Dup")
    with pytest.raises(RequestInvalid):
        create_organisation(db_session, CLI, name="", declared_use_case="x")
