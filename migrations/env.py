"""Alembic environment: migrates the database named by the caller or by ``Settings``.

Where the URL comes from, first match wins: a connection handed in through
``config.attributes["connection"]`` (tests, the embedded default's startup), ``-x url=...``,
``sqlalchemy.url`` in the config, else ``Settings().database_url`` (``LIKENESS_DATABASE_URL``).
SQLite gets batch mode (it cannot ALTER most things in place); engines come from
``service.db.make_engine``, whose SQLite transactions are real, so DDL is transactional on both.
"""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy import Connection

from service.db import Base, make_engine
from service.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return (context.get_x_argument(as_dictionary=True).get("url")
            or config.get_main_option("sqlalchemy.url")
            or Settings().database_url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transactional_ddl=True,
    )


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
