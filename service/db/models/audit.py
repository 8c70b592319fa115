"""The audit log's tables: the events and a one-row chain head.

Appends lock the head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions take the
write lock at ``BEGIN IMMEDIATE``), so the chain is extended one transaction at a time. Unique
``prev_hash`` is a second guard: two events can never link onto the same predecessor. The
migration adds triggers that refuse UPDATE and DELETE on ``audit_events`` (and TRUNCATE on
PostgreSQL). The payload is plain ``json`` on PostgreSQL, not ``jsonb``, so the stored text is
kept as written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from policy.audit import Outcome
from service.db.base import Base
from service.db.types import str_enum

HEAD_ROW_ID = 1


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(200), index=True)
    resource: Mapped[str] = mapped_column(String(200), index=True)
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, "outcome"))
    request_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint(f"id = {HEAD_ROW_ID}", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
