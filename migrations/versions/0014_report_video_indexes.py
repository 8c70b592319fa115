"""Misuse reports' video key and hash are indexed.

Every deletion of bytes - retention purges, erasure, the orphan sweep in batches of 500 keys -
asks whether a misuse report holds them as evidence (``service.domain.blob_holders``), by
``video_storage_key`` or ``video_sha256``. Without an index each such question scanned the
whole reports table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_misuse_reports_video_storage_key", "misuse_reports",
                    ["video_storage_key"])
    op.create_index("ix_misuse_reports_video_sha256", "misuse_reports", ["video_sha256"])


def downgrade() -> None:
    op.drop_index("ix_misuse_reports_video_sha256", table_name="misuse_reports")
    op.drop_index("ix_misuse_reports_video_storage_key", table_name="misuse_reports")
