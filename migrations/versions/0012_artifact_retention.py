"""Artifact retention: ``artifacts.purged_at``, set when retention deleted a released video's bytes.

The artifact row itself stays: it is the provenance registry's record, and ``POST /v1/verify``
must still resolve a watermark read from a copy of the video held elsewhere.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: plain ADD COLUMN on both PostgreSQL and SQLite (no table rebuild).
    op.add_column("artifacts", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("purged_at")
