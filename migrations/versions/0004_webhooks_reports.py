"""Webhooks and misuse reports: ``webhook_endpoints``, ``webhook_deliveries``,
``misuse_reports``.

Only new tables, so the same statements serve PostgreSQL and SQLite. Enum columns are VARCHAR
+ named CHECK constraints, as everywhere in this schema.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _fk(name: str, target: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Uuid(), sa.ForeignKey(target), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _fk("organisation_id", "organisations.id", nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(200)),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("event_types", _json(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        _fk("created_by_key_id", "api_keys.id"),
        sa.Column("deleted_at", _utc()),
    )
    op.create_index("ix_webhook_endpoints_organisation_id", "webhook_endpoints",
                    ["organisation_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _fk("endpoint_id", "webhook_endpoints.id", nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        _fk("job_id", "jobs.id"),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", _enum("delivery_status", "pending", "delivered", "failed"),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=False),
        sa.Column("last_attempt_at", _utc()),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("delivered_at", _utc()),
    )
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id"])
    op.create_index("ix_webhook_deliveries_job_id", "webhook_deliveries", ["job_id"])
    op.create_index("ix_webhook_deliveries_status_next_attempt_at", "webhook_deliveries",
                    ["status", "next_attempt_at"])
    _create_reports()


def _create_reports() -> None:
    op.create_table(
        "misuse_reports",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("category", _enum("report_category", "no_consent", "impersonation", "fraud",
                                    "harassment", "minor", "misinformation", "other"),
                  nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(320)),
        sa.Column("reporter", sa.String(200), nullable=False),
        sa.Column("asset_id", sa.String(14)),
        _fk("artifact_id", "artifacts.id"),
        sa.Column("video_storage_key", sa.String(500)),
        sa.Column("video_sha256", sa.String(64)),
        sa.Column("verdict_code", sa.String(32)),
        sa.Column("status", _enum("report_status", "open", "resolved"), nullable=False),
        sa.Column("outcome", _enum("report_outcome", "actioned", "no_action", "not_ours",
                                   "duplicate")),
        sa.Column("resolution_note", sa.Text()),
        _fk("resolved_by_id", "users.id"),
        sa.Column("resolved_at", _utc()),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_index("ix_misuse_reports_asset_id", "misuse_reports", ["asset_id"])
    op.create_index("ix_misuse_reports_artifact_id", "misuse_reports", ["artifact_id"])
    op.create_index("ix_misuse_reports_status_created_at", "misuse_reports",
                    ["status", "created_at"])


def downgrade() -> None:
    for table in ("misuse_reports", "webhook_deliveries", "webhook_endpoints"):
        op.drop_table(table)  # their indexes go with them
