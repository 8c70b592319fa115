"""Engines and sessions, built from a URL at the edges (app factory, worker, CLI, Alembic env).

Nothing here is a module-level global. PostgreSQL (psycopg 3) is the deployment database;
SQLite is the embedded default and is configured so it behaves like a serialising database:

- ``PRAGMA foreign_keys=ON`` (off by default in SQLite);
- WAL journal, so readers do not block the writer, and a 30 s busy timeout;
- every transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front and
  waits for it, instead of upgrading a read lock later and failing with "database is locked"
  (or forking the audit chain). Writers, and readers inside a transaction, therefore run one
  at a time: right for a single-node embedded default, and the reason deployments use
  PostgreSQL. pysqlite's own implicit transactions are switched off so that this and
  SAVEPOINTs work (the SQLAlchemy-documented recipe).

Transactions belong to the caller: service functions only ``flush``; ``session_scope``
commits on success and rolls back on error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30.0


DEFAULT_POOL_SIZE = 5  # SQLAlchemy's own default: enough for CLIs, tests and workers


def make_engine(url: str, *, echo: bool = False, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """An engine for ``url`` (``postgresql+psycopg://...`` or ``sqlite:///path``).

    ``pool_size``: PostgreSQL connections kept open once opened (up to 10 more are opened for
    a burst and closed after it). A server with many request threads wants more: each
    connection past the pool costs a new PostgreSQL backend, several milliseconds, on the
    request that needed it (``Settings.database_pool_size``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=pool_size,
                             max_overflow=10)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, echo=echo,
                           connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S,
                                         "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit (an API handler returns them after the transaction).
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *,
                  commit_on: tuple[type[BaseException], ...] = ()) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error.

    ``commit_on`` lists errors after which the work is still committed before the error
    propagates: authentication records its denial in the audit log and raises, and that event
    must survive the refusal.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except commit_on:
        session.commit()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
