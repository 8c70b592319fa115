"""Officers' access to the audit log: per-person keys, event references, retention pruning.

- ``audit_personal_keys``: each person's wrapped AES-256-GCM key (NULL once erased:
  crypto-shredding); ``audit_event_refs``: events indexed by organisation, subject and job.
- ``audit_prunes``: boundaries retention pruned the log at. ``audit_events`` stays
  append-only except for one path: a DELETE of an event at or before the latest recorded
  boundary. Recording a boundary is checked by a trigger - a later boundary than the last, at
  a signed checkpoint's size with that checkpoint's root, naming the event's real hash - so
  only a prefix of whole checkpointed segments can ever go, and the kept tree nodes and
  boundary let verification start there. On PostgreSQL both steps also need the session
  setting ``likeness.audit_retention = 'prune'`` (``SET LOCAL``, by ``likeness audit
  prune``) and membership of the ``likeness_retention`` role (created here NOLOGIN when the
  migrating role may create roles; grants in docs/audit.md). On SQLite whoever can write the
  file can do anything anyway; the triggers still refuse every other DELETE.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RETENTION_ROLE = "likeness_retention"


def upgrade() -> None:
    op.create_table(
        "audit_personal_keys",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_event_refs",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("organisation_id", sa.Uuid()),
        sa.Column("subject_id", sa.Uuid()),
        sa.Column("job_id", sa.Uuid()),
    )
    for column in ("organisation_id", "subject_id", "job_id"):
        op.create_index(f"ix_audit_event_refs_{column}", "audit_event_refs", [column])
    op.create_table(
        "audit_prunes",
        sa.Column("through_seq", sa.BigInteger(), sa.ForeignKey("audit_checkpoints.tree_size"),
                  primary_key=True, autoincrement=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("events_deleted", sa.BigInteger(), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pruned_by", sa.String(200), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UPGRADE:
            op.execute(statement)
    else:
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT count(*) FROM audit_prunes")).scalar_one():
        raise RuntimeError("cannot downgrade: the audit log was pruned (older revisions "
                           "verify from genesis only)")
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWNGRADE if postgresql else _SQLITE_DOWNGRADE:
        op.execute(statement)
    op.drop_table("audit_prunes")
    op.drop_table("audit_event_refs")
    op.drop_table("audit_personal_keys")
    if postgresql:
        op.execute("DROP FUNCTION audit_retention_allowed()")


_PG_UPGRADE = (
    # The retention role: NOLOGIN, granted to whoever runs `likeness audit prune`.
    f"""
    DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RETENTION_ROLE}') THEN
            CREATE ROLE {RETENTION_ROLE} NOLOGIN;
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'create the role {RETENTION_ROLE} (NOLOGIN) to enable audit retention';
    END $$
    """,
    f"""
    CREATE FUNCTION audit_retention_allowed() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
        IF coalesce(current_setting('likeness.audit_retention', true), '') <> 'prune' THEN
            RETURN false;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RETENTION_ROLE}') THEN
            RETURN false;
        END IF;
        RETURN pg_has_role(current_user, '{RETENTION_ROLE}', 'MEMBER');
    END $$
    """,
    """
    CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND audit_retention_allowed()
           AND OLD.seq <= (SELECT max(through_seq) FROM audit_prunes) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
    END $$
    """,
    "DROP TRIGGER audit_events_no_update_delete ON audit_events",
    """
    CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard()
    """,
    """
    CREATE FUNCTION audit_prunes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            RAISE EXCEPTION 'audit_prunes is append-only: % refused', TG_OP;
        END IF;
        IF NOT audit_retention_allowed() THEN
            RAISE EXCEPTION 'pruning the audit log needs the retention role and setting';
        END IF;
        IF NEW.through_seq <= coalesce((SELECT max(through_seq) FROM audit_prunes), 0) THEN
            RAISE EXCEPTION 'a prune boundary only moves forward';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM audit_events
                       WHERE seq = NEW.through_seq AND hash = NEW.chain_hash) THEN
            RAISE EXCEPTION 'the boundary names another hash than event %', NEW.through_seq;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM audit_checkpoints
                       WHERE tree_size = NEW.through_seq AND root_hash = NEW.root_hash) THEN
            RAISE EXCEPTION 'no signed checkpoint of % events with that root', NEW.through_seq;
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER audit_prunes_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_prunes
    FOR EACH ROW EXECUTE FUNCTION audit_prunes_guard()
    """,
    """
    CREATE TRIGGER audit_prunes_no_truncate BEFORE TRUNCATE ON audit_prunes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_prunes_guard()
    """,
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_prunes FROM PUBLIC",
    f"""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RETENTION_ROLE}') THEN
            GRANT SELECT, DELETE ON audit_events, audit_event_refs TO {RETENTION_ROLE};
            GRANT SELECT, INSERT ON audit_prunes TO {RETENTION_ROLE};
            GRANT SELECT ON audit_checkpoints, audit_chain_head TO {RETENTION_ROLE};
            -- the prune's own audit event goes through the inbox like any other
            GRANT SELECT, INSERT ON audit_pending TO {RETENTION_ROLE};  -- RETURNING id
            GRANT USAGE ON SEQUENCE audit_pending_id_seq TO {RETENTION_ROLE};
        END IF;
    END $$
    """,
)
_PG_DOWNGRADE = (
    "DROP TRIGGER audit_events_no_update_delete ON audit_events",
    """
    CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
    "DROP FUNCTION audit_events_guard()",
    "DROP TRIGGER audit_prunes_guard ON audit_prunes",
    "DROP TRIGGER audit_prunes_no_truncate ON audit_prunes",
    "DROP FUNCTION audit_prunes_guard()",
)
_SQLITE_UPGRADE = (
    "DROP TRIGGER audit_events_no_delete",
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    WHEN OLD.seq > coalesce((SELECT max(through_seq) FROM audit_prunes), 0)
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER audit_prunes_guard BEFORE INSERT ON audit_prunes
    WHEN NEW.through_seq <= coalesce((SELECT max(through_seq) FROM audit_prunes), 0)
      OR NOT EXISTS (SELECT 1 FROM audit_events
                     WHERE seq = NEW.through_seq AND hash = NEW.chain_hash)
      OR NOT EXISTS (SELECT 1 FROM audit_checkpoints
                     WHERE tree_size = NEW.through_seq AND root_hash = NEW.root_hash)
    BEGIN SELECT RAISE(ABORT, 'a prune boundary must move forward to a signed checkpoint'); END
    """,
    """
    CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes
    BEGIN SELECT RAISE(ABORT, 'audit_prunes is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes
    BEGIN SELECT RAISE(ABORT, 'audit_prunes is append-only: DELETE refused'); END
    """,
)
_SQLITE_DOWNGRADE = (
    "DROP TRIGGER audit_events_no_delete",
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END
    """,
)
