"""The monthly quota's count gets its own index: (organisation_id, is_test, created_at).

Every submission counts the jobs its organisation created in the same environment since the
month began (``service.jobs.quota``). With only ``ix_jobs_organisation_id`` that count visited
every job the organisation ever created, so each submit grew slower with the partner's history;
the composite index bounds it to this month's rows. It also serves every lookup the old
single-column index served (its leading column), so that one is dropped.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_organisation_quota", "jobs",
                    ["organisation_id", "is_test", "created_at"])
    op.drop_index("ix_jobs_organisation_id", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_organisation_id", "jobs", ["organisation_id"])
    op.drop_index("ix_jobs_organisation_quota", table_name="jobs")
