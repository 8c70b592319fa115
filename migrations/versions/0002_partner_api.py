"""Partner API: consent-evidence asset kinds, shared content-addressed blobs, sandbox flags.

- ``assets.kind`` gains ``consent_document`` and ``consent_recording`` (the column widens and
  its CHECK constraint is replaced);
- ``assets.storage_key`` is no longer unique: blobs are content-addressed, so the same bytes
  uploaded twice (a retry, or two partners) are two asset rows over one blob;
- ``assets.is_reference``: the subject's reference portraits, set at registration;
- ``assets.duration_seconds`` (audio and recorded statements);
- ``assets.is_test`` and ``subjects.is_test``: rows made with a test key (the sandbox).

PostgreSQL alters ``assets`` in place. SQLite cannot drop a UNIQUE or CHECK constraint, so the
table is rebuilt by hand rather than by Alembic's batch mode: batch copies into a new table and
renames it, which leaves SQLite's deferred foreign-key counter charged with every consent and
job row that pointed at the dropped table, and the commit fails. Here the rows are copied
aside, the table dropped and re-created, and the rows inserted back under their ids, which
settles the counter (``PRAGMA defer_foreign_keys`` keeps the checks until commit).
Downgrading fails while evidence assets or duplicate storage keys exist, by design.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("portrait", "audio")
NEW_KINDS = (*OLD_KINDS, "consent_document", "consent_recording")
OLD_COLUMNS = ("id", "organisation_id", "subject_id", "kind", "sha256", "size_bytes",
               "media_type", "storage_key", "face_encoding", "created_at")


def upgrade() -> None:
    if _is_sqlite():
        _rebuild_sqlite_assets(new=True)
    else:
        _change_kinds(OLD_KINDS, NEW_KINDS)
        op.drop_constraint(op.f("uq_assets_storage_key"), "assets", type_="unique")
        op.create_index(op.f("ix_assets_storage_key"), "assets", ["storage_key"])
        op.add_column("assets", sa.Column("is_reference", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
        op.add_column("assets", sa.Column("duration_seconds", sa.Double()))
        op.add_column("assets", sa.Column("is_test", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    op.add_column("subjects", sa.Column("is_test", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("subjects", "is_test")  # SQLite >= 3.35 drops a plain column in place
    if _is_sqlite():
        _rebuild_sqlite_assets(new=False)
        return
    op.drop_column("assets", "is_test")
    op.drop_column("assets", "duration_seconds")
    op.drop_column("assets", "is_reference")
    op.drop_index(op.f("ix_assets_storage_key"), "assets")
    op.create_unique_constraint(op.f("uq_assets_storage_key"), "assets", ["storage_key"])
    _change_kinds(NEW_KINDS, OLD_KINDS)


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _change_kinds(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    name = op.f("ck_assets_asset_kind")
    op.drop_constraint(name, "assets", type_="check")
    op.alter_column("assets", "kind", type_=sa.String(max(map(len, new))),
                    existing_type=sa.String(max(map(len, old))), existing_nullable=False)
    listed = ", ".join(f"'{kind}'" for kind in new)
    op.create_check_constraint(name, "assets", sa.text(f"kind IN ({listed})"))


def _rebuild_sqlite_assets(*, new: bool) -> None:
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TEMP TABLE _assets_copy AS SELECT * FROM assets")
    op.drop_table("assets")  # its indexes go with it
    kinds = NEW_KINDS if new else OLD_KINDS
    extra = [sa.Column("is_reference", sa.Boolean(), nullable=False, server_default=sa.false()),
             sa.Column("duration_seconds", sa.Double()),
             sa.Column("is_test", sa.Boolean(), nullable=False, server_default=sa.false())]
    op.create_table(
        "assets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organisation_id", sa.Uuid(), sa.ForeignKey("organisations.id"),
                  nullable=False),
        sa.Column("subject_id", sa.Uuid(), sa.ForeignKey("subjects.id")),
        sa.Column("kind", sa.Enum(*kinds, name="asset_kind", native_enum=False,
                                  create_constraint=True), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("storage_key", sa.String(500), nullable=False, unique=not new),
        sa.Column("face_encoding", sa.LargeBinary()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *(extra if new else []),
    )
    columns = ", ".join(OLD_COLUMNS)
    op.execute(f"INSERT INTO assets ({columns}) SELECT {columns} FROM _assets_copy")
    op.execute("DROP TABLE _assets_copy")
    for column in ("organisation_id", "subject_id", "sha256", *(["storage_key"] if new else [])):
        op.create_index(op.f(f"ix_assets_{column}"), "assets", [column])
