"""Portrait face encodings sealed: the plaintext ones written after 0008 are deleted.

Migration 0008 said ``assets.face_encoding`` was sealed from then on, but until this revision
the service kept writing partner portraits' encodings as plain little-endian float32 (128
values, exactly 512 bytes); only the live capture's templates were sealed. From now on a
portrait's encoding is sealed like a template (AES-256-GCM under ``LIKENESS_FACE_TEMPLATE_KEY``
or ``data_dir/face-template-key``, bound to the asset's id and organisation: ``version ||
nonce || ciphertext+tag``, 541 bytes). The key lives outside the database, so this migration
cannot seal the plaintext rows either: it deletes every encoding of exactly 512 bytes (data
minimisation) and keeps the sealed ones. Re-upload the affected subjects' reference portraits
(``POST /v1/assets``, then register them); a job portrait left without an encoding is refused
by the consent gate as ``face_mismatch``, so such a job must be submitted again with its
portrait. ``length()`` counts a PostgreSQL ``bytea``'s or a SQLite BLOB's bytes alike.

Downgrading cannot bring the deleted plaintext back, and code from before this revision cannot
read a sealed encoding (it takes the column for raw float32): the downgrade deletes the sealed
encodings too, so both directions end with no encoding the code cannot use.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLAINTEXT_BYTES = 512  # 128 little-endian float32; a sealed encoding is 1 + 12 + 512 + 16


def upgrade() -> None:
    op.execute("UPDATE assets SET face_encoding = NULL "
               f"WHERE face_encoding IS NOT NULL AND length(face_encoding) = {PLAINTEXT_BYTES}")


def downgrade() -> None:
    op.execute("UPDATE assets SET face_encoding = NULL "
               f"WHERE face_encoding IS NOT NULL AND length(face_encoding) <> {PLAINTEXT_BYTES}")
