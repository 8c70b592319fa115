"""Portrait reviews: a compliance officer's decision on a job portrait in the capture band.

``portrait_reviews``: one row per (subject, portrait asset, consent), filed by the consent gate
when a job portrait is neither clearly the subject's live-captured face nor clearly someone
else's (``service.domain.portrait_reviews``): the measured distance and band (for officers),
the photo's SHA-256, the status (pending, accepted, rejected,
voided) and the officer's decision. A plain ``CREATE TABLE`` on both databases.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "accepted", "rejected", "voided")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _fk(name: str, target: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Uuid(), sa.ForeignKey(target), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "portrait_reviews",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _fk("organisation_id", "organisations.id"),
        _fk("subject_id", "subjects.id"),
        _fk("consent_id", "consents.id"),
        _fk("portrait_asset_id", "assets.id"),
        sa.Column("portrait_sha256", sa.String(64), nullable=False),
        sa.Column("distance", sa.Double(), nullable=False),
        sa.Column("pass_max", sa.Double(), nullable=False),
        sa.Column("refuse_from", sa.Double(), nullable=False),
        sa.Column("status", sa.Enum(*STATUSES, name="portrait_review_status",
                                    native_enum=False, create_constraint=True),
                  nullable=False),
        sa.Column("filed_at", _utc(), nullable=False),
        _fk("officer_id", "users.id", nullable=True),
        sa.Column("decided_at", _utc()),
        sa.Column("reason", sa.Text()),
        sa.Column("voided_at", _utc()),
        sa.UniqueConstraint("subject_id", "portrait_asset_id", "consent_id"),
    )
    op.create_index("ix_portrait_reviews_status_id", "portrait_reviews", ["status", "id"])
    op.create_index("ix_portrait_reviews_consent_id", "portrait_reviews", ["consent_id"])
    op.create_index("ix_portrait_reviews_portrait_asset_id", "portrait_reviews",
                    ["portrait_asset_id"])


def downgrade() -> None:
    op.drop_table("portrait_reviews")  # its indexes go with it
