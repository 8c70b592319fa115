"""Engine and session setup: the SQLite defaults, the settings URL, transaction scopes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from service.db import make_engine, make_session_factory, session_scope
from service.db.models import Organisation
from service.errors import ApiKeyInvalid, AuthError
from service.settings import Settings


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIKENESS_DATABASE_URL", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'likeness.db'}"
    monkeypatch.setenv("LIKENESS_DATABASE_URL", "postgresql+psycopg://u@db/likeness")
    assert Settings(data_dir=tmp_path).database_url == "postgresql+psycopg://u@db/likeness"


def test_sqlite_engine_enforces_keys_uses_wal_and_creates_its_directory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'x.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (tmp_path / "new" / "x.db").exists()
    finally:
        engine.dispose()


def _count(engine: Engine, name: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(Organisation).where(Organisation.name == name)
        return connection.execute(query).scalar_one()


def _add(session, name: str) -> None:
    session.add(Organisation(name=name, declared_use_case="scope test"))
    session.flush()


def test_session_scope_commits_rolls_back_and_commits_on_listed_errors(db_engine: Engine) -> None:
    factory = make_session_factory(db_engine)
    with session_scope(factory) as session:
        _add(session, "scope-commit")
    assert _count(db_engine, "scope-commit") == 1
    with pytest.raises(RuntimeError), session_scope(factory) as session:
        _add(session, "scope-rollback")
        raise RuntimeError("boom")
    assert _count(db_engine, "scope-rollback") == 0
    with pytest.raises(ApiKeyInvalid), session_scope(factory, commit_on=(AuthError,)) as session:
        _add(session, "scope-kept")
        raise ApiKeyInvalid("denied")
    assert _count(db_engine, "scope-kept") == 1
    with db_engine.begin() as connection:  # leave the shared database as it was
        connection.execute(text("DELETE FROM organisations WHERE name LIKE 'scope-%'"))
