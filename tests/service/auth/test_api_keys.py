"""API keys from issue to refusal: format, keyed hash only, every refusal's error and audit
event, last-used bookkeeping, and suspension switching a whole organisation off."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from policy.audit import ChainHead, Outcome
from service.audit.sequencer import sequence_pending
from service.auth import (
    Scope,
    authenticate_api_key,
    create_api_key,
    revoke_api_key,
    suspend_organisation,
)
from service.auth.api_keys import IssuedApiKey, hash_token
from service.db import SqlAuditStore, make_session_factory, session_scope
from service.db.models import ApiKey, KeyEnvironment
from service.errors import (
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyRevoked,
    AuthError,
    OrganisationNotVetted,
    OrganisationSuspended,
    RequestInvalid,
    RoleMissing,
    ScopeMissing,
)
from tests.service.auth.conftest import CLI, T0, World, build_world

SCOPES = ["jobs:create", "jobs:read"]


def _issue(session: Session, world: World, pepper: bytes, *,
           environment: KeyEnvironment = KeyEnvironment.LIVE, **changes: object) -> IssuedApiKey:
    arguments: dict[str, object] = dict(organisation_id=world.organisation.id,
                                        created_by=world.partner.id, name="ci", scopes=SCOPES,
                                        environment=environment, pepper=pepper, now=T0)
    arguments.update(changes)
    return create_api_key(session, CLI, **arguments)  # type: ignore[arg-type]


def _head(session: Session) -> ChainHead:
    """The audit chain's head once what this session wrote is sequenced."""
    sequence_pending(session)
    return SqlAuditStore().head(session)


def _last_event(session: Session):
    head = _head(session)
    return next(SqlAuditStore().events(session, after_seq=head.seq - 1)).event


def test_a_live_key_needs_a_vetted_organisation(db_session: Session, world: World,
                                                pepper: bytes) -> None:
    with pytest.raises(OrganisationNotVetted):
        _issue(db_session, world, pepper)
    test_key = _issue(db_session, world, pepper, environment=KeyEnvironment.TEST)
    principal = authenticate_api_key(db_session, test_key.token, pepper=pepper, now=T0)
    assert principal.is_test and principal.organisation_id == world.organisation.id


def test_issued_key_format_and_only_its_keyed_hash_is_stored(db_session: Session, world: World,
                                                             pepper: bytes) -> None:
    world.vet(db_session)
    issued = _issue(db_session, world, pepper, scopes=["jobs:read", "jobs:create", "jobs:read"])
    assert re.fullmatch(r"lk_live_[a-z2-7]{16}_[a-z2-7]{32}", issued.token)
    assert issued.token not in repr(issued)
    assert issued.scopes == {Scope.JOBS_CREATE, Scope.JOBS_READ}
    secret = issued.token.rsplit("_", 1)[1]
    row = db_session.scalars(select(ApiKey).where(ApiKey.key_id == issued.key_id)).one()
    assert row.secret_hash == hash_token(pepper, issued.token) and len(row.secret_hash) == 32
    assert row.scopes == ["jobs:create", "jobs:read"]
    assert all(secret not in str(value) for value in vars(row).values())
    event = _last_event(db_session)
    assert (event.action, event.resource) == ("auth:api_key:create", f"api_key:{issued.key_id}")
    assert secret not in event.payload_json


def test_authentication_returns_the_principal_and_throttles_last_used(
        db_session: Session, world: World, pepper: bytes) -> None:
    world.vet(db_session)
    issued = _issue(db_session, world, pepper)
    principal = authenticate_api_key(db_session, issued.token, pepper=pepper, now=T0,
                                     required_scopes=[Scope.JOBS_CREATE], request_id="r1")
    assert (principal.key_id, principal.api_key_id) == (issued.key_id, issued.api_key_id)
    assert principal.scopes == {Scope.JOBS_CREATE, Scope.JOBS_READ} and not principal.is_test
    row = db_session.get(ApiKey, issued.api_key_id)
    assert row is not None and row.last_used_at == T0
    used = _last_event(db_session)
    assert (used.action, used.actor, used.request_id) == (
        "auth:api_key:use", f"api_key:{issued.key_id}", "r1")
    head = _head(db_session)
    authenticate_api_key(db_session, issued.token, pepper=pepper, now=T0 + timedelta(seconds=30))
    assert row.last_used_at == T0 and _head(db_session) == head
    later = T0 + timedelta(minutes=2)
    authenticate_api_key(db_session, issued.token, pepper=pepper, now=later)
    assert row.last_used_at == later and _head(db_session).seq == head.seq + 1


def _swap_secret(token: str) -> str:
    prefix, secret = token.rsplit("_", 1)
    return f"{prefix}_{'a' if secret[0] != 'a' else 'b'}{secret[1:]}"


def test_bad_tokens_are_one_error_and_only_known_ids_are_audited(
        db_session: Session, world: World, pepper: bytes) -> None:
    world.vet(db_session)
    issued = _issue(db_session, world, pepper)
    head = _head(db_session)
    unknown_id = "lk_live_" + "b" * 16 + "_" + "c" * 32
    for token in ("", "Bearer x", issued.token + "x", issued.token.upper(), unknown_id):
        with pytest.raises(ApiKeyInvalid):
            authenticate_api_key(db_session, token, pepper=pepper, now=T0)
    assert _head(db_session) == head  # internet noise is not audited
    for token in (_swap_secret(issued.token), issued.token.replace("lk_live_", "lk_test_", 1)):
        with pytest.raises(ApiKeyInvalid):
            authenticate_api_key(db_session, token, pepper=pepper, now=T0)
    with pytest.raises(ApiKeyInvalid):  # another deployment's pepper
        authenticate_api_key(db_session, issued.token, pepper=bytes(32), now=T0)
    denied = _last_event(db_session)
    assert (denied.action, denied.outcome, denied.actor) == (
        "auth:api_key:authenticate", Outcome.DENIED, "anonymous")
    assert denied.payload == {"code": "api_key_invalid"}
    assert _head(db_session).seq == head.seq + 3


@pytest.mark.parametrize("environment", [KeyEnvironment.LIVE, KeyEnvironment.TEST])
def test_expired_revoked_and_scope_refusals(db_session: Session, world: World, pepper: bytes,
                                            environment: KeyEnvironment) -> None:
    world.vet(db_session)
    expiring = _issue(db_session, world, pepper, environment=environment,
                      expires_at=T0 + timedelta(days=1))
    authenticate_api_key(db_session, expiring.token, pepper=pepper, now=T0)
    with pytest.raises(ApiKeyExpired):
        authenticate_api_key(db_session, expiring.token, pepper=pepper,
                             now=T0 + timedelta(days=1))
    assert _last_event(db_session).payload == {"code": "api_key_expired"}
    with pytest.raises(ScopeMissing) as info:
        authenticate_api_key(db_session, expiring.token, pepper=pepper, now=T0,
                             required_scopes=[Scope.ASSETS_WRITE, Scope.JOBS_READ])
    assert info.value.context["missing"] == ["assets:write"]
    assert _last_event(db_session).actor == f"api_key:{expiring.key_id}"
    assert revoke_api_key(db_session, CLI, key_id=expiring.key_id, revoked_by=world.partner.id)
    assert not revoke_api_key(db_session, CLI, key_id=expiring.key_id,
                              revoked_by=world.operator.id)
    with pytest.raises(ApiKeyRevoked):
        authenticate_api_key(db_session, expiring.token, pepper=pepper, now=T0)
    with pytest.raises(RoleMissing):
        revoke_api_key(db_session, CLI, key_id=expiring.key_id, revoked_by=world.outsider.id)


def test_suspension_switches_every_key_off_until_reinstated(db_session: Session, world: World,
                                                            pepper: bytes) -> None:
    world.vet(db_session)
    keys = [_issue(db_session, world, pepper, environment=env) for env in KeyEnvironment]
    suspend_organisation(db_session, CLI, organisation_id=world.organisation.id,
                         operator_id=world.operator.id, reason="abuse report")
    for issued in keys:
        with pytest.raises(OrganisationSuspended):
            authenticate_api_key(db_session, issued.token, pepper=pepper, now=T0)
    with pytest.raises(OrganisationSuspended):
        _issue(db_session, world, pepper, environment=KeyEnvironment.TEST)
    world.vet(db_session)
    for issued in keys:
        authenticate_api_key(db_session, issued.token, pepper=pepper, now=T0)


def test_issuing_checks_the_creator_and_the_request(db_session: Session, world: World,
                                                    pepper: bytes) -> None:
    world.vet(db_session)
    with pytest.raises(RoleMissing):
        create_api_key(db_session, CLI, organisation_id=world.organisation.id,
                       created_by=world.outsider.id, name="x", scopes=SCOPES,
                       environment=KeyEnvironment.LIVE, pepper=pepper)
    create_api_key(db_session, CLI, organisation_id=world.organisation.id,  # operators may
                   created_by=world.operator.id, name="ops", scopes=SCOPES,
                   environment=KeyEnvironment.LIVE, pepper=pepper)
    for bad in ({"scopes": ["jobs:delete"]}, {"scopes": []}, {"name": " "},
                {"expires_at": T0 - timedelta(seconds=1)}):
        with pytest.raises(RequestInvalid):
            _issue(db_session, world, pepper, **bad)


def test_a_refusal_is_kept_when_the_caller_commits_on_auth_errors(db_engine: Engine,
                                                                  pepper: bytes) -> None:
    # The API's dependency runs authentication in its own transaction with commit_on.
    factory = make_session_factory(db_engine)
    with session_scope(factory) as session:
        world = build_world(session)
        issued = _issue(session, world, pepper, environment=KeyEnvironment.TEST)
    with pytest.raises(ApiKeyInvalid), session_scope(factory, commit_on=(AuthError,)) as session:
        authenticate_api_key(session, _swap_secret(issued.token), pepper=pepper, now=T0)
    with session_scope(factory) as session:
        denied = _last_event(session)
    assert (denied.action, denied.resource, denied.outcome) == (
        "auth:api_key:authenticate", f"api_key:{issued.key_id}", Outcome.DENIED)
