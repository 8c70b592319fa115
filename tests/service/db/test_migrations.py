"""The migrations build exactly the models' schema on PostgreSQL and SQLite, seed the audit
chain head and its triggers, and undo all of it."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from policy.audit import GENESIS_HASH
from service.db import Base, make_engine
from service.db.migrate import alembic_config, downgrade_database, upgrade_database
from tests.conftest import BACKENDS, database_url

TRIGGERS = {
    "postgresql": {"audit_events_no_update_delete", "audit_events_no_truncate",
                   "audit_chain_head_forward", "audit_chain_head_no_truncate",
                   "audit_tree_nodes_no_update_delete", "audit_tree_nodes_no_truncate",
                   "audit_checkpoints_no_update_delete", "audit_checkpoints_no_truncate",
                   "audit_pending_no_update", "audit_pending_no_truncate",
                   "audit_prunes_guard", "audit_prunes_no_truncate"},
    "sqlite": {"audit_events_no_update", "audit_events_no_delete", "audit_chain_head_forward",
               "audit_chain_head_no_delete", "audit_tree_nodes_no_update",
               "audit_tree_nodes_no_delete", "audit_checkpoints_no_update",
               "audit_checkpoints_no_delete", "audit_pending_no_update",
               "audit_prunes_guard", "audit_prunes_no_update", "audit_prunes_no_delete"},
}
TABLES = {"users", "organisations", "role_grants", "api_keys", "subjects", "consents", "assets",
          "jobs", "outbox", "artifacts", "audit_events", "audit_chain_head",
          "audit_pending", "audit_tree_nodes", "audit_checkpoints",
          "audit_personal_keys", "audit_event_refs", "audit_prunes",
          "webhook_endpoints", "webhook_deliveries", "misuse_reports", "subject_links",
          "consent_requests", "consent_check_results", "face_templates",
          "portrait_reviews"}


def _triggers(connection, backend: str) -> set[str]:
    if backend == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return set(connection.execute(text(query)).scalars())


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_matches_models_and_downgrade_removes_everything(
        backend: str, postgres_database: Callable[[str], str], tmp_path: Path) -> None:
    engine = make_engine(database_url(backend, postgres_database, tmp_path,
                                      "likeness_test_migrations"))
    try:
        for _ in range(2):  # the round trip works twice: downgrade leaves nothing behind
            upgrade_database(engine)
            with engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) >= TABLES
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
                head = connection.execute(text("SELECT id, seq, hash FROM audit_chain_head")).all()
                assert [tuple(row) for row in head] == [(1, 0, GENESIS_HASH)]
                assert _triggers(connection, backend) == TRIGGERS[backend]
            downgrade_database(engine)
            with engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) == {"alembic_version"}
                assert _triggers(connection, backend) == set()
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                added = {diff[1].name for diff in compare_metadata(context, Base.metadata)
                         if diff[0] == "add_table"}
                assert added == TABLES  # the comparison is not vacuous
                if backend == "postgresql":
                    functions = connection.execute(text(
                        "SELECT proname FROM pg_proc WHERE proname LIKE 'audit_%'")).all()
                    assert functions == []
    finally:
        engine.dispose()


def test_alembic_takes_the_url_from_x_arguments_or_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The operator's paths: `alembic -x url=... upgrade head`, or LIKENESS_DATABASE_URL.
    explicit, from_settings = tmp_path / "x.db", tmp_path / "settings.db"
    config = alembic_config()
    config.cmd_opts = Namespace(x=[f"url=sqlite:///{explicit}"])
    command.upgrade(config, "head")
    monkeypatch.setenv("LIKENESS_DATABASE_URL", f"sqlite:///{from_settings}")
    command.upgrade(alembic_config(), "head")
    for path in (explicit, from_settings):
        engine = make_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) >= TABLES
        finally:
            engine.dispose()
