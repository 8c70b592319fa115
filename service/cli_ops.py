"""Operator commands: run the service (``db upgrade``, ``serve``, ``worker``) and administer
partners (``user``, ``org``, ``keys``, ``staff token``).

The CLI talks to the database directly, so whoever runs it is trusted like the database's own
administrator; still, every change names the operator (``--operator EMAIL`` / ``--by EMAIL``),
is checked against that user's role, and lands in the audit chain as ``cli:<email>``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cli_common import reports_errors
from service.errors import NotFound
from service.settings import Settings


@contextmanager
def _transaction(settings: Settings) -> Iterator[Session]:
    from service.db import make_engine
    from service.db.engine import make_session_factory, session_scope

    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _context(email: str | None = None, settings: Settings | None = None) -> Any:
    """The operator as an audit actor; with ``settings``, able to seal personal fields."""
    from service.audit.personal import AuditKeyring
    from service.db.audit import AuditContext

    keyring = None if settings is None else AuditKeyring.from_settings(settings)
    return AuditContext(actor=f"cli:{email or getpass.getuser()}", keyring=keyring)


def _user(session: Session, email: str) -> Any:
    from service.db.models import User

    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email}", resource="user", email=email)
    return user


# -- running the service ------------------------------------------------------------------------


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.pass_obj
@reports_errors
def db_upgrade(settings: Settings) -> None:
    """Migrate the database to the newest schema (PostgreSQL or the embedded SQLite)."""
    from service.db import make_engine
    from service.db.migrate import upgrade_database

    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    click.echo(f"database at the newest schema ({engine.url.render_as_string()})")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.pass_obj
def serve(settings: Settings, host: str, port: int) -> None:
    """Run the partner HTTP API."""
    import uvicorn

    from service.api.app import create_app

    uvicorn.run(create_app(settings, freeze_gc_at_startup=True), host=host, port=port,
                log_config=None)


@click.command()
@click.option("--pool", type=click.Choice(["solo", "prefork", "threads"]), default="solo",
              show_default=True, help="solo: one job at a time on this process's device.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--maintenance/--no-maintenance", default=True, show_default=True,
              help="Also run the outbox relay, the lease reaper and webhook delivery here.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve this worker's job metrics (Prometheus) on this port.")
@click.pass_obj
def worker(settings: Settings, pool: str, concurrency: int, maintenance: bool,
           metrics_port: int | None) -> None:
    """Run a GPU worker: loads the model once, renders jobs from the gpu queue."""
    from service.jobs.worker import run_worker

    raise SystemExit(run_worker(settings, pool=pool, concurrency=concurrency,
                                maintenance=maintenance, metrics_port=metrics_port))


# -- users, organisations, keys ------------------------------------------------------------------


@click.group()
def user() -> None:
    """People: partners, compliance officers, verifiers, operators."""


@user.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["partner", "compliance_officer", "verifier", "operator"]))
@click.option("--org", "organisation_id", type=click.UUID, default=None,
              help="The partner's organisation (partner role only).")
@click.pass_obj
@reports_errors
def user_create(settings: Settings, email: str, name: str, roles: tuple[str, ...],
                organisation_id: Any) -> None:
    """Create a user with one or more roles."""
    from service.auth.users import create_user, grant_role
    from service.db.models import Role

    with _transaction(settings) as session:
        context = _context(settings=settings)
        created = create_user(session, context, email=email, display_name=name)
        for role in roles:
            org = organisation_id if role == Role.PARTNER.value else None
            grant_role(session, context, user_id=created.id, role=Role(role), organisation_id=org)
        user_id = created.id
    click.echo(f"user {user_id} {email} ({', '.join(roles)})")


@click.group()
def org() -> None:
    """Partner organisations: create, vet, suspend."""


@org.command("create")
@click.argument("name")
@click.option("--use-case", required=True, help="What the partner declares it will make.")
@click.pass_obj
@reports_errors
def org_create(settings: Settings, name: str, use_case: str) -> None:
    """Create an organisation as pending (no live keys until vetted)."""
    from service.auth.organisations import create_organisation

    with _transaction(settings) as session:
        organisation = create_organisation(session, _context(), name=name,
                                           declared_use_case=use_case)
        organisation_id = organisation.id
    click.echo(f"organisation {organisation_id} {name} (pending)")


@org.command("accept-aup")
@click.argument("organisation_id", type=click.UUID)
@click.option("--partner", "email", required=True, help="The partner accepting it.")
@click.option("--version", "aup_version", required=True, help="AUP version accepted.")
@click.pass_obj
@reports_errors
def org_accept_aup(settings: Settings, organisation_id: Any, email: str, aup_version: str) -> None:
    """Record that a partner of the organisation accepted the acceptable-use policy."""
    from service.auth.organisations import accept_aup

    with _transaction(settings) as session:
        accept_aup(session, _context(email), organisation_id=organisation_id,
                   user_id=_user(session, email).id, aup_version=aup_version)
    click.echo(f"organisation {organisation_id} accepted AUP {aup_version}")


@org.command("vet")
@click.argument("organisation_id", type=click.UUID)
@click.option("--operator", "email", required=True)
@click.pass_obj
@reports_errors
def org_vet(settings: Settings, organisation_id: Any, email: str) -> None:
    """Vet (or reinstate) an organisation: its live keys start working."""
    from service.auth.organisations import vet_organisation

    with _transaction(settings) as session:
        vet_organisation(session, _context(email), organisation_id=organisation_id,
                         operator_id=_user(session, email).id)
    click.echo(f"organisation {organisation_id} vetted")


@org.command("suspend")
@click.argument("organisation_id", type=click.UUID)
@click.option("--operator", "email", required=True)
@click.option("--reason", required=True)
@click.pass_obj
@reports_errors
def org_suspend(settings: Settings, organisation_id: Any, email: str, reason: str) -> None:
    """Suspend an organisation: every credential of it stops working at once."""
    from service.auth.organisations import suspend_organisation

    with _transaction(settings) as session:
        suspend_organisation(session, _context(email), organisation_id=organisation_id,
                             operator_id=_user(session, email).id, reason=reason)
    click.echo(f"organisation {organisation_id} suspended")


@org.command("list")
@click.pass_obj
@reports_errors
def org_list(settings: Settings) -> None:
    from service.db.models import Organisation

    with _transaction(settings) as session:
        for row in session.scalars(select(Organisation).order_by(Organisation.created_at)):
            click.echo(f"{row.id}  {row.status.value:<9}  {row.name}")


@click.group()
def keys() -> None:
    """API keys (lk_live_… / lk_test_…): shown once, stored only as a keyed hash; and
    rotation of the keys that seal stored face encodings and webhook secrets."""


@keys.command("create")
@click.option("--org", "organisation_id", type=click.UUID, required=True)
@click.option("--by", "email", required=True, help="Operator or partner issuing the key.")
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, required=True,
              help="Repeat: assets:write, subjects:write, consents:request, jobs:create, ...")
@click.option("--test", is_flag=True, help="A sandbox key (lk_test_…).")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None)
@click.pass_obj
@reports_errors
def keys_create(settings: Settings, organisation_id: Any, email: str, name: str,
                scopes: tuple[str, ...], test: bool, expires_days: int | None) -> None:
    """Issue a key; the token is printed once and cannot be shown again."""
    from service.auth.api_keys import create_api_key
    from service.auth.pepper import load_api_key_pepper
    from service.db.models import KeyEnvironment
    from service.db.types import utcnow

    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    with _transaction(settings) as session:
        issued = create_api_key(
            session, _context(email), organisation_id=organisation_id,
            created_by=_user(session, email).id, name=name, scopes=scopes,
            environment=KeyEnvironment.TEST if test else KeyEnvironment.LIVE,
            pepper=load_api_key_pepper(settings), expires_at=expires)
    click.echo(issued.token)
    click.echo(f"key id {issued.key_id}: store the token now, it is not kept", err=True)


@keys.command("list")
@click.option("--org", "organisation_id", type=click.UUID, default=None)
@click.pass_obj
@reports_errors
def keys_list(settings: Settings, organisation_id: Any) -> None:
    from service.db.models import ApiKey

    with _transaction(settings) as session:
        query = select(ApiKey).order_by(ApiKey.created_at)
        if organisation_id is not None:
            query = query.where(ApiKey.organisation_id == organisation_id)
        for row in session.scalars(query):
            state = "revoked" if row.revoked_at else "active"
            used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
            click.echo(f"{row.key_id}  {row.environment.value:<4}  {state:<7}  last used {used}  "
                       f"{row.name}  [{' '.join(row.scopes)}]")


@keys.command("revoke")
@click.argument("key_id")
@click.option("--by", "email", required=True)
@click.pass_obj
@reports_errors
def keys_revoke(settings: Settings, key_id: str, email: str) -> None:
    from service.auth.api_keys import revoke_api_key

    with _transaction(settings) as session:
        changed = revoke_api_key(session, _context(email), key_id=key_id,
                                 revoked_by=_user(session, email).id)
    click.echo(f"key {key_id} {'revoked' if changed else 'was already revoked'}")


@click.group()
def staff() -> None:
    """Staff credentials (compliance officers, verifiers, operators)."""


@staff.command("token")
@click.argument("email")
@click.pass_obj
@reports_errors
def staff_token(settings: Settings, email: str) -> None:
    """Print a short-lived bearer token for a staff user (until single sign-on is wired)."""
    from service.api.tokens import issue_staff_token, load_signing_key
    from service.db.types import utcnow

    from service.db.audit import record

    with _transaction(settings) as session:
        user_id = _user(session, email).id
        record(session, _context(), "auth:token:issue", f"user:{user_id}",
               payload={"kind": "staff", "ttl_seconds": settings.staff_token_ttl_seconds})
    click.echo(issue_staff_token(load_signing_key(settings), user_id=user_id,
                                 issuer=settings.oauth_issuer,
                                 ttl_seconds=settings.staff_token_ttl_seconds, now=utcnow()))


COMMANDS = (db, serve, worker, user, org, keys, staff)
