"""Consent requests: challenges, live capture, evidence checks, face templates; consent scope.

- ``consent_requests``: the scope a partner asks for, the script and its one-time challenge
  (expiry, use), the prompt schedule, the capture link's hash, the evidence and its outcome
  (decision, reasons, versions, evidence hash), and the verification's outbox columns;
- ``consent_check_results``: one row per evidence check (name, score, threshold, pass, reason);
- ``face_templates``: the captured face's 128-D encoding, sealed (AES-256-GCM);
- ``consents`` gains ``max_jobs``, ``basis`` (officer_review, verified_capture, nonliving),
  ``nonliving_category`` and ``justification``.

New tables are plain ``CREATE TABLE`` on both databases. The ``consents`` columns are added in
place: on SQLite by ``ALTER TABLE ... ADD COLUMN`` with the CHECK written on the column (a batch
rebuild of ``consents`` would upset SQLite's deferred foreign-key counter for every job row
that points at it; see 0002), on PostgreSQL with named CHECK constraints.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BASES = ("officer_review", "verified_capture", "nonliving")
CATEGORIES = ("painting", "synthetic_face", "historical_photo")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _fk(name: str, target: str, nullable: bool = True, **kw: str) -> sa.Column:
    return sa.Column(name, sa.Uuid(), sa.ForeignKey(target, **kw), nullable=nullable)


def upgrade() -> None:
    _create_requests()
    _create_results_and_templates()
    _add_consent_columns()


def downgrade() -> None:
    for table in ("face_templates", "consent_check_results", "consent_requests"):
        op.drop_table(table)  # their indexes go with them
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_consents_nonliving_category"), "consents", type_="check")
        op.drop_constraint(op.f("ck_consents_consent_basis"), "consents", type_="check")
    # SQLite >= 3.35 drops a column in place when its only CHECK is on the column itself.
    for column in ("justification", "nonliving_category", "basis", "max_jobs"):
        op.drop_column("consents", column)


def _create_requests() -> None:
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _fk("subject_id", "subjects.id", nullable=False),
        _fk("organisation_id", "organisations.id", nullable=False),
        _fk("api_key_id", "api_keys.id"),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("status", _enum("consent_request_status", "open", "verifying", "granted",
                                  "review", "rejected"), nullable=False),
        sa.Column("purposes", _json(), nullable=False),
        sa.Column("consent_expires_at", _utc(), nullable=False),
        sa.Column("max_jobs", sa.Integer()),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("challenge", _json(), nullable=False),
        sa.Column("challenge_expires_at", _utc(), nullable=False),
        sa.Column("challenge_used_at", _utc()),
        sa.Column("prompt_schedule", _json(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("capture_started_at", _utc()),
        sa.Column("evidence_source", _enum("evidence_source", "capture", "partner_upload")),
        _fk("evidence_asset_id", "assets.id"),
        sa.Column("prompt_timeline", _json()),
        sa.Column("verify_sent_at", _utc()),
        sa.Column("verify_attempts", sa.Integer(), nullable=False),
        sa.Column("verify_last_error", sa.Text()),
        sa.Column("assessed_decision", sa.String(16)),
        sa.Column("decision", sa.String(16)),
        sa.Column("reasons", _json()),
        sa.Column("versions", _json()),
        sa.Column("evidence_sha256", sa.String(64)),
        _fk("consent_id", "consents.id"),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("submitted_at", _utc()),
        sa.Column("decided_at", _utc()),
    )
    for column in ("subject_id", "organisation_id", "consent_id"):
        op.create_index(f"ix_consent_requests_{column}", "consent_requests", [column])
    op.create_index("ix_consent_requests_status_verify_sent_at", "consent_requests",
                    ["status", "verify_sent_at"])


def _create_results_and_templates() -> None:
    op.create_table(
        "consent_check_results",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _fk("request_id", "consent_requests.id", nullable=False, ondelete="CASCADE"),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("score", sa.Double()),
        sa.Column("threshold", sa.Double()),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64)),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", _utc(), nullable=False),
        sa.UniqueConstraint("request_id", "name"),
    )
    op.create_index("ix_consent_check_results_request_id", "consent_check_results",
                    ["request_id"])
    op.create_table(
        "face_templates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _fk("subject_id", "subjects.id", nullable=False),
        _fk("consent_id", "consents.id"),
        _fk("request_id", "consent_requests.id"),
        sa.Column("ciphertext", sa.LargeBinary()),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("erased_at", _utc()),
    )
    op.create_index("ix_face_templates_subject_id", "face_templates", ["subject_id"])
    op.create_index("ix_face_templates_consent_id", "face_templates", ["consent_id"])


def _add_consent_columns() -> None:
    bases = ", ".join(f"'{value}'" for value in BASES)
    categories = ", ".join(f"'{value}'" for value in CATEGORIES)
    op.add_column("consents", sa.Column("max_jobs", sa.Integer()))
    op.add_column("consents", sa.Column("justification", sa.Text()))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE consents ADD COLUMN basis VARCHAR(16) NOT NULL "
                   "DEFAULT 'officer_review' CONSTRAINT ck_consents_consent_basis "
                   f"CHECK (basis IN ({bases}))")
        op.execute("ALTER TABLE consents ADD COLUMN nonliving_category VARCHAR(16) "
                   "CONSTRAINT ck_consents_nonliving_category "
                   f"CHECK (nonliving_category IN ({categories}))")
        return
    op.add_column("consents", sa.Column("basis", sa.String(16), nullable=False,
                                        server_default="officer_review"))
    op.add_column("consents", sa.Column("nonliving_category", sa.String(16)))
    op.create_check_constraint(op.f("ck_consents_consent_basis"), "consents",
                               sa.text(f"basis IN ({bases})"))
    op.create_check_constraint(op.f("ck_consents_nonliving_category"), "consents",
                               sa.text(f"nonliving_category IN ({categories})"))
