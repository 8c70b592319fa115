"""A small world for the auth tests: an operator, a partner and their pending organisation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from service.auth import accept_aup, create_organisation, create_user, grant_role, vet_organisation
from service.db import AuditContext
from service.db.models import Organisation, Role, User

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CLI = AuditContext(actor="system:cli", request_id="req-setup")


@dataclass(frozen=True)
class World:
    operator: User
    partner: User
    outsider: User
    organisation: Organisation

    def vet(self, session: Session) -> None:
        vet_organisation(session, CLI, organisation_id=self.organisation.id,
                         operator_id=self.operator.id, now=T0)


@pytest.fixture
def pepper() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def world(db_session: Session) -> World:
    return build_world(db_session)


def build_world(db_session: Session) -> World:
    tag = secrets.token_hex(4)  # unique emails: some tests commit through the engine
    operator = create_user(db_session, CLI, email=f"op-{tag}@likeness.test", display_name="Op",
                           now=T0)
    grant_role(db_session, CLI, user_id=operator.id, role=Role.OPERATOR, now=T0)
    organisation = create_organisation(db_session, CLI, name="Dub Studio",
                                       declared_use_case="film dubbing with actors' consent",
                                       now=T0)
    partner = create_user(db_session, CLI, email=f"p-{tag}@studio.test", display_name="P", now=T0)
    grant_role(db_session, CLI, user_id=partner.id, role=Role.PARTNER,
               organisation_id=organisation.id, granted_by=operator.id, now=T0)
    outsider = create_user(db_session, CLI, email=f"x-{tag}@else.test", display_name="X", now=T0)
    accept_aup(db_session, CLI, organisation_id=organisation.id, user_id=partner.id,
               aup_version="2026-11", now=T0)
    return World(operator, partner, outsider, organisation)
