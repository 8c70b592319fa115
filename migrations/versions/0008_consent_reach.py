"""Consent reach: declared transcripts, the subject's private link, revocation flags, erasure.

- ``jobs``: ``transcript``, ``transcript_language``, ``transcript_sha256`` (indexed),
  ``transcript_check``, ``transcript_score``; the job state ``awaiting_review`` (a transcript
  in a language the aligner cannot check waits for an officer), so ``jobs.state`` widens to 15
  characters and its CHECK constraint gains the value;
- ``artifacts.consent_revoked_at``: the registry's flag on videos made under a revoked consent;
- ``subjects.erased_at``: set by erasure;
- ``subject_links``: the subject's private page, by the SHA-256 of its token;
- face templates (``assets.face_encoding``) are sealed with AES-256-GCM from now on. The key
  lives outside the database, so this migration cannot seal the plaintext templates stored
  before it: it deletes them (data minimisation; re-upload a subject's reference portraits).
  (Only the live-capture templates were in fact sealed until 0010, which seals portraits'
  encodings too and deletes the plaintext ones written in between.)

SQLite cannot alter a CHECK constraint or a column's declared length in place, and rebuilding
``jobs`` would cascade-delete its outbox rows (``ON DELETE CASCADE`` fires on the implicit
delete of ``DROP TABLE`` while foreign keys are on, and they cannot be switched off inside the
migration's transaction). Both changes leave the stored rows as they are (the column keeps
TEXT affinity; the new CHECK accepts every old value), which is the case SQLite documents for
editing the table's definition in ``sqlite_schema`` under ``PRAGMA writable_schema`` and
bumping ``schema_version``. Downgrading refuses while a job is ``awaiting_review``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
NEW_STATES = ("awaiting_review", *OLD_STATES)
STATE_CHECK = "ck_jobs_job_state"
TRANSCRIPT_COLUMNS = ("transcript", "transcript_language", "transcript_sha256",
                      "transcript_check", "transcript_score")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("transcript", sa.Text()))
    op.add_column("jobs", sa.Column("transcript_language", sa.String(16)))
    op.add_column("jobs", sa.Column("transcript_sha256", sa.String(64)))
    op.add_column("jobs", sa.Column("transcript_check", sa.String(32)))
    op.add_column("jobs", sa.Column("transcript_score", sa.Double()))
    op.create_index("ix_jobs_transcript_sha256", "jobs", ["transcript_sha256"])
    _change_states(OLD_STATES, NEW_STATES)
    op.add_column("artifacts", sa.Column("consent_revoked_at", _utc()))
    op.add_column("subjects", sa.Column("erased_at", _utc()))
    op.create_table(
        "subject_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("consent_id", sa.Uuid(), sa.ForeignKey("consents.id"), nullable=False,
                  unique=True),
        sa.Column("subject_id", sa.Uuid(), sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("issued_at", _utc(), nullable=False),
        sa.Column("last_used_at", _utc()),
        sa.Column("disabled_at", _utc()),
    )
    op.create_index("ix_subject_links_subject_id", "subject_links", ["subject_id"])
    # Plaintext templates from before sealing: deleted, not kept in the clear (see above).
    op.execute("UPDATE assets SET face_encoding = NULL WHERE face_encoding IS NOT NULL")


def downgrade() -> None:
    held = op.get_bind().execute(
        sa.text("SELECT count(*) FROM jobs WHERE state = 'awaiting_review'")).scalar_one()
    if held:
        raise RuntimeError(f"{held} job(s) are awaiting an officer's transcript review; "
                           "approve, reject or cancel them before downgrading")
    op.drop_index("ix_subject_links_subject_id", "subject_links")
    op.drop_table("subject_links")
    op.drop_column("subjects", "erased_at")  # SQLite >= 3.35 drops a plain column in place
    op.drop_column("artifacts", "consent_revoked_at")
    _change_states(NEW_STATES, OLD_STATES)
    op.drop_index("ix_jobs_transcript_sha256", "jobs")
    for column in reversed(TRANSCRIPT_COLUMNS):
        op.drop_column("jobs", column)


def _change_states(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    if _is_sqlite():
        _edit_sqlite_jobs_definition(old, new)
        return
    op.drop_constraint(op.f(STATE_CHECK), "jobs", type_="check")
    op.alter_column("jobs", "state", type_=sa.String(max(map(len, new))),
                    existing_type=sa.String(max(map(len, old))), existing_nullable=False)
    op.create_check_constraint(op.f(STATE_CHECK), "jobs", sa.text(f"state IN ({_listed(new)})"))


def _listed(states: tuple[str, ...]) -> str:
    return ", ".join(f"'{state}'" for state in states)


def _edit_sqlite_jobs_definition(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """Swap the state column's length and CHECK in ``sqlite_schema`` (see the module doc)."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").scalar_one()
    replacements = ((f"state VARCHAR({max(map(len, old))}) NOT NULL",
                     f"state VARCHAR({max(map(len, new))}) NOT NULL"),
                    (f"CHECK (state IN ({_listed(old)}))", f"CHECK (state IN ({_listed(new)}))"))
    for before, after in replacements:
        if sql.count(before) != 1:
            raise RuntimeError(f"jobs table definition has no single {before!r}; cannot "
                               "change its states in place")
        sql = sql.replace(before, after)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql "
                             "WHERE type = 'table' AND name = 'jobs'"), {"sql": sql})
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
