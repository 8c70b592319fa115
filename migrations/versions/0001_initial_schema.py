"""Initial schema: tenancy, consent, assets/jobs/outbox, provenance registry, audit chain.

Beyond the tables: seeds the audit chain head at the genesis hash and installs triggers that
keep the audit log append-only (no UPDATE/DELETE of events, TRUNCATE refused on PostgreSQL) and
let the head only move forward one event at a time. SQLite batch migrations that recreate
``audit_events`` or ``audit_chain_head`` later must re-create these triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# policy.audit.GENESIS_HASH, frozen here: a migration must not change when the code does.
GENESIS_HASH = "e1b0e30909f12315c0dd253ad4e0d2f94a77eaeac0421b6fff892ac649987d9b"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _id(name: str = "id") -> sa.Column:
    return sa.Column(name, sa.Uuid(), primary_key=True)


def _fk(name: str, target: str, nullable: bool = True, **kw: str) -> sa.Column:
    return sa.Column(name, sa.Uuid(), sa.ForeignKey(target, **kw), nullable=nullable)


def upgrade() -> None:
    _create_tenancy()
    _create_consent_and_assets()
    _create_jobs()
    _create_audit()
    if op.get_bind().dialect.name == "postgresql":
        for statement in _POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    for table in ("outbox", "artifacts", "jobs", "consents", "assets", "subjects", "api_keys",
                  "role_grants", "organisations", "users", "audit_events", "audit_chain_head"):
        op.drop_table(table)  # indexes and triggers go with their tables
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_events_append_only()")
        op.execute("DROP FUNCTION audit_chain_head_forward_only()")


def _create_tenancy() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("disabled_at", _utc()),
    )
    op.create_table(
        "organisations",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", _enum("organisation_status", "pending", "vetted", "suspended"),
                  nullable=False),
        sa.Column("declared_use_case", sa.Text(), nullable=False),
        sa.Column("aup_version", sa.String(40)),
        sa.Column("aup_accepted_at", _utc()),
        _fk("aup_accepted_by_id", "users.id"),
        sa.Column("vetted_at", _utc()),
        _fk("vetted_by_id", "users.id"),
        sa.Column("suspended_at", _utc()),
        sa.Column("suspended_reason", sa.Text()),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_table(
        "role_grants",
        _id(),
        _fk("user_id", "users.id", nullable=False, ondelete="CASCADE"),
        sa.Column("role", _enum("role", "partner", "compliance_officer", "verifier", "operator"),
                  nullable=False),
        _fk("organisation_id", "organisations.id"),
        sa.Column("granted_at", _utc(), nullable=False),
        _fk("granted_by_id", "users.id"),
        sa.UniqueConstraint("user_id", "role", "organisation_id"),
    )
    op.create_index("ix_role_grants_user_id", "role_grants", ["user_id"])
    op.create_index("ix_role_grants_organisation_id", "role_grants", ["organisation_id"])
    op.create_table(
        "api_keys",
        _id(),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("environment", _enum("environment", "live", "test"), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scopes", _json(), nullable=False),
        _fk("organisation_id", "organisations.id", nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        _fk("created_by_id", "users.id"),
        sa.Column("expires_at", _utc()),
        sa.Column("revoked_at", _utc()),
        _fk("revoked_by_id", "users.id"),
        sa.Column("last_used_at", _utc()),
    )
    op.create_index("ix_api_keys_organisation_id", "api_keys", ["organisation_id"])


def _create_consent_and_assets() -> None:
    op.create_table(
        "subjects",
        _id(),
        _fk("organisation_id", "organisations.id", nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("external_ref", sa.String(200)),
        sa.Column("created_at", _utc(), nullable=False),
        sa.UniqueConstraint("organisation_id", "external_ref"),
    )
    op.create_index("ix_subjects_organisation_id", "subjects", ["organisation_id"])
    op.create_table(
        "assets",
        _id(),
        _fk("organisation_id", "organisations.id", nullable=False),
        _fk("subject_id", "subjects.id"),
        sa.Column("kind", _enum("asset_kind", "portrait", "audio"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("storage_key", sa.String(500), nullable=False, unique=True),
        sa.Column("face_encoding", sa.LargeBinary()),
        sa.Column("created_at", _utc(), nullable=False),
    )
    for column in ("organisation_id", "subject_id", "sha256"):
        op.create_index(f"ix_assets_{column}", "assets", [column])
    op.create_table(
        "consents",
        _id(),
        _fk("subject_id", "subjects.id", nullable=False),
        _fk("organisation_id", "organisations.id", nullable=False),
        sa.Column("status", _enum("consent_status", "pending", "approved", "rejected", "revoked"),
                  nullable=False),
        sa.Column("purposes", _json(), nullable=False),
        sa.Column("expires_at", _utc()),
        _fk("evidence_asset_id", "assets.id"),
        sa.Column("requested_at", _utc(), nullable=False),
        _fk("reviewer_id", "users.id"),
        sa.Column("reviewed_at", _utc()),
        sa.Column("reason", sa.Text()),
        sa.Column("revoked_at", _utc()),
    )
    op.create_index("ix_consents_subject_id", "consents", ["subject_id"])
    op.create_index("ix_consents_organisation_id", "consents", ["organisation_id"])


def _create_jobs() -> None:
    op.create_table(
        "jobs",
        _id(),
        _fk("organisation_id", "organisations.id", nullable=False),
        _fk("api_key_id", "api_keys.id"),
        _fk("subject_id", "subjects.id", nullable=False),
        _fk("consent_id", "consents.id", nullable=False),
        sa.Column("purpose", sa.String(100), nullable=False),
        _fk("portrait_asset_id", "assets.id", nullable=False),
        _fk("audio_asset_id", "assets.id", nullable=False),
        sa.Column("controls", _json(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("state", _enum("job_state", "queued", "running", "succeeded", "failed",
                                 "cancelled"), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text()),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires_at", _utc()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("started_at", _utc()),
        sa.Column("finished_at", _utc()),
        sa.UniqueConstraint("organisation_id", "idempotency_key"),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
    )
    for column in ("organisation_id", "subject_id", "consent_id"):
        op.create_index(f"ix_jobs_{column}", "jobs", [column])
    op.create_index("ix_jobs_state_lease_expires_at", "jobs", ["state", "lease_expires_at"])
    op.create_table(
        "outbox",
        _id(),
        _fk("job_id", "jobs.id", nullable=False, ondelete="CASCADE"),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
    )
    op.create_index("ix_outbox_job_id", "outbox", ["job_id"])
    op.create_index("ix_outbox_sent_at_created_at", "outbox", ["sent_at", "created_at"])
    op.create_table(
        "artifacts",
        _id(),
        sa.Column("asset_id", sa.String(14), nullable=False, unique=True),
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id"), unique=True),
        _fk("organisation_id", "organisations.id"),
        _fk("subject_id", "subjects.id"),
        _fk("consent_id", "consents.id"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_index("ix_artifacts_organisation_id", "artifacts", ["organisation_id"])
    op.create_index("ix_artifacts_sha256", "artifacts", ["sha256"])


def _create_audit() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("outcome", _enum("outcome", "success", "denied", "failure"), nullable=False),
        sa.Column("request_id", sa.String(200)),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    for column in ("occurred_at", "actor", "action", "resource"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


_POSTGRESQL_TRIGGERS = (
    """
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
    END $$
    """,
    """
    CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
    """
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    """,
    """
    CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
            RAISE EXCEPTION 'audit_chain_head only moves forward one event: % refused', TG_OP;
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only()
    """,
    """
    CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    """,
)

_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE ON audit_chain_head
    WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1
    BEGIN SELECT RAISE(ABORT, 'audit_chain_head only moves forward one event'); END
    """,
    """
    CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    BEGIN SELECT RAISE(ABORT, 'audit_chain_head cannot be deleted'); END
    """,
)
