"""Shared database fixtures: every database test runs on real PostgreSQL and on SQLite.

PostgreSQL: ``LIKENESS_TEST_POSTGRES_URL`` (an admin URL, default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, trust auth); the session drops and
re-creates its own databases (``likeness_test_<run tag>``...) and drops them at the end. If the server is
down the tests fail with the command that starts it; they never skip. SQLite: a temporary file.

``db_engine`` is a migrated engine per backend (session-scoped); ``db_session`` is a session
inside a transaction that is rolled back after the test (service code's own commits become
savepoints), so tests see each other's data only where they commit through ``db_engine``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.db import make_engine
from service.db.migrate import upgrade_database

DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[str], str]]:
    """A factory: ``make(name)`` drops and creates database ``name`` and returns its URL."""
    admin_url = make_url(os.environ.get("LIKENESS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL is not reachable at {admin_url.render_as_string()}; start it "
                    f"with `{START_POSTGRES}` (or set LIKENESS_TEST_POSTGRES_URL): {exc}")
    created: list[str] = []
    # Several pytest runs may share one server (parallel checkouts, a developer beside CI):
    # each run's databases carry its own tag so no run drops another's.
    run_tag = os.environ.get("LIKENESS_TEST_DB_TAG") or f"p{os.getpid()}"

    def make(name: str) -> str:
        name = f"{name}_{run_tag}"[:63]
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return admin_url.set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def database_url(backend: str, postgres_database: Callable[[str], str], directory: Path,
                 name: str) -> str:
    if backend == "postgresql":
        return postgres_database(name)
    return f"sqlite:///{directory / (name + '.db')}"


@pytest.fixture(scope="session", params=BACKENDS)
def db_engine(request: pytest.FixtureRequest, postgres_database: Callable[[str], str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database (``alembic upgrade head``) per backend."""
    yield from migrated_engine(request.param, postgres_database, tmp_path_factory.mktemp("db"),
                               "likeness_test")


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test."""
    yield from rolled_back_session(db_engine)


def migrated_engine(backend: str, postgres_database: Callable[[str], str], directory: Path,
                    name: str) -> Iterator[Engine]:
    """For fixtures: a fresh database ``name`` on ``backend``, migrated, disposed after."""
    engine = make_engine(database_url(backend, postgres_database, directory, name))
    upgrade_database(engine)
    yield engine
    engine.dispose()


def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """For fixtures: a session inside a transaction rolled back afterwards (the service's own
    commits become savepoints)."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint",
                      expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
