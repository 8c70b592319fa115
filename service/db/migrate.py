"""Run the Alembic migrations from code: the embedded default at startup, tests, a CLI command.

The migration scripts live in the repository's ``migrations/`` beside ``alembic.ini``. An open
connection is handed to ``migrations/env.py`` through ``config.attributes`` so the caller's
engine (and its SQLite setup) is the one migrated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from service.errors import DatabaseNotReady

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config() -> Config:
    if not ALEMBIC_INI.is_file():
        raise DatabaseNotReady(f"no Alembic configuration at {ALEMBIC_INI}", path=str(ALEMBIC_INI))
    config = Config(str(ALEMBIC_INI))
    config.attributes["configure_logger"] = False  # leave the host application's logging alone
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    _run(engine, command.upgrade, revision)


def downgrade_database(engine: Engine, revision: str = "base") -> None:
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)
