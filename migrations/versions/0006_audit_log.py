"""Audit log: an inbox writers never wait on, a sequencer, the Merkle tree and signed checkpoints.

- ``audit_pending``: what ``service.db.audit.record`` inserts in the caller's transaction
  (autoincrement id, no chain fields), so concurrent writers never lock each other. The
  sequencer (``service.audit.sequencer``) moves committed rows onto the chain and deletes them.
- ``audit_events.client_address``: the caller's address, hashed only when present.
- ``audit_chain_head.tree_size`` / ``frontier``: how many events the Merkle tree holds and its
  right edge (one 32-byte hash per set bit of the size, highest level first). ``tree_size`` may
  lag ``seq`` (events chained before this revision): the sequencer backfills the tree first.
- ``audit_tree_nodes``: every perfect subtree hash (level 0 = leaf hashes), for proofs.
- ``audit_checkpoints``: signed notes (tree size, root, time), also exported as files.

Append-only: triggers refuse UPDATE/DELETE/TRUNCATE on ``audit_events`` (0001),
``audit_tree_nodes`` and ``audit_checkpoints``; ``audit_pending`` rows can be inserted and
deleted, never changed; the chain head only moves forward (``seq`` and ``tree_size`` never
decrease, a head at the same ``seq`` keeps its hash). PostgreSQL also revokes the rewriting
privileges from PUBLIC. A deployment runs migrations as the owning role and the application
as a separate role holding only what it needs, e.g.::

    CREATE ROLE likeness_app LOGIN;
    GRANT SELECT, INSERT ON audit_events, audit_tree_nodes, audit_checkpoints TO likeness_app;
    GRANT SELECT, INSERT, DELETE ON audit_pending TO likeness_app;
    GRANT USAGE ON SEQUENCE audit_pending_id_seq TO likeness_app;
    GRANT SELECT, UPDATE ON audit_chain_head TO likeness_app;

(plus its grants on the other tables). Only the owner (or a superuser) can then disable the
triggers; verification (``likeness audit verify``) finds what such a role changes.

Downgrade refuses while unsequenced events wait in ``audit_pending`` or any event carries a
client address (the older schema cannot hold them; dropping them would break the chain).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("audit_tree_nodes", "audit_checkpoints")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("outcome", sa.Enum("success", "denied", "failure", name="outcome",
                                     native_enum=False, create_constraint=True), nullable=False),
        sa.Column("request_id", sa.String(200)),
        sa.Column("client_address", sa.String(200)),
        sa.Column("payload_json", sa.Text(), nullable=False),
    )
    op.add_column("audit_events", sa.Column("client_address", sa.String(200)))
    op.add_column("audit_chain_head", sa.Column("tree_size", sa.BigInteger(), nullable=False,
                                                server_default="0"))
    op.add_column("audit_chain_head", sa.Column("frontier", sa.LargeBinary()))
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("node_index", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("timestamp", _utc(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    bind = op.get_bind()
    waiting = bind.execute(sa.text("SELECT count(*) FROM audit_pending")).scalar_one()
    addressed = bind.execute(sa.text(
        "SELECT count(*) FROM audit_events WHERE client_address IS NOT NULL")).scalar_one()
    if waiting or addressed:
        raise RuntimeError(f"cannot downgrade the audit log: {waiting} events wait to be "
                           f"sequenced and {addressed} events carry a client address")
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        op.execute(_PG_HEAD_FUNCTION.format(rule=_PG_HEAD_RULE_0001))
    else:
        op.execute("DROP TRIGGER audit_chain_head_forward")
        op.execute(_SQLITE_HEAD_TRIGGER.format(rule=_SQLITE_HEAD_RULE_0001))
    for table in ("audit_pending", "audit_tree_nodes", "audit_checkpoints"):
        op.drop_table(table)  # their triggers go with them
    if postgresql:
        op.execute("DROP FUNCTION audit_append_only()")
        op.execute("DROP FUNCTION audit_pending_insert_delete_only()")
    # Plain DROP COLUMN (PostgreSQL; SQLite >= 3.35): a batch rebuild would lose the triggers.
    op.execute("ALTER TABLE audit_chain_head DROP COLUMN frontier")
    op.execute("ALTER TABLE audit_chain_head DROP COLUMN tree_size")
    op.execute("ALTER TABLE audit_events DROP COLUMN client_address")


def _postgresql_upgrade() -> None:
    op.execute("""
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
        END $$
    """)
    op.execute("""
        CREATE FUNCTION audit_pending_insert_delete_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_pending rows are never changed: % refused', TG_OP;
        END $$
    """)
    for table in APPEND_ONLY_TABLES:
        op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()")
    op.execute("CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending "
               "FOR EACH ROW EXECUTE FUNCTION audit_pending_insert_delete_only()")
    op.execute("CREATE TRIGGER audit_pending_no_truncate BEFORE TRUNCATE ON audit_pending "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_insert_delete_only()")
    op.execute(_PG_HEAD_FUNCTION.format(rule=_PG_HEAD_RULE))
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_tree_nodes, "
               "audit_checkpoints FROM PUBLIC")
    op.execute("REVOKE UPDATE, TRUNCATE ON audit_pending FROM PUBLIC")
    op.execute("REVOKE DELETE, TRUNCATE ON audit_chain_head FROM PUBLIC")


def _sqlite_upgrade() -> None:
    for table in APPEND_ONLY_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON "
                       f"{table} BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} "
                       "refused'); END")
    op.execute("CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending BEGIN "
               "SELECT RAISE(ABORT, 'audit_pending rows are never changed: UPDATE refused'); END")
    op.execute("DROP TRIGGER audit_chain_head_forward")
    op.execute(_SQLITE_HEAD_TRIGGER.format(rule=_SQLITE_HEAD_RULE))


# The head's rule, before (0001: one event per update) and after this revision (batches).
_PG_HEAD_RULE_0001 = "TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1"
_PG_HEAD_RULE = ("TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq < OLD.seq "
                 "OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) "
                 "OR NEW.tree_size < OLD.tree_size OR NEW.tree_size > NEW.seq")
_PG_HEAD_FUNCTION = """
    CREATE OR REPLACE FUNCTION audit_chain_head_forward_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF {rule} THEN
            RAISE EXCEPTION 'audit_chain_head only moves forward: % refused', TG_OP;
        END IF;
        RETURN NEW;
    END $$
"""
_SQLITE_HEAD_RULE_0001 = "NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1"
_SQLITE_HEAD_RULE = ("NEW.id <> OLD.id OR NEW.seq < OLD.seq "
                     "OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) "
                     "OR NEW.tree_size < OLD.tree_size OR NEW.tree_size > NEW.seq")
_SQLITE_HEAD_TRIGGER = """
    CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE ON audit_chain_head
    WHEN {rule}
    BEGIN SELECT RAISE(ABORT, 'audit_chain_head only moves forward'); END
"""
