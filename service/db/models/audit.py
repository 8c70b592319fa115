"""The audit log's tables: an inbox, the chained events, the chain head, the Merkle tree's
nodes and the signed checkpoints.

``record`` inserts into ``audit_pending`` in the caller's transaction, so writers never wait on
each other. The sequencer (``service.audit.sequencer``) is the only writer of the others: under
the head row's lock it chains committed pending rows onto ``audit_events``, adds their leaves
to ``audit_tree_nodes`` (every perfect subtree hash: level 0 holds the leaf hashes), moves the
head and deletes the pending rows, in one transaction. Unique ``prev_hash`` is a second guard
against a fork. Migrations add triggers that keep the log append-only (see 0001 and 0006). The
payload is plain ``json`` on PostgreSQL, not ``jsonb``, so the stored text is kept as written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from policy.audit import Outcome
from service.db.base import Base
from service.db.types import str_enum

HEAD_ROW_ID = 1


class AuditPendingRow(Base):
    """An event written by a committed (or still open) transaction, not yet sequenced."""

    __tablename__ = "audit_pending"

    # Autoincrement on both databases (SQLite only autoincrements an INTEGER primary key).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, "outcome"))
    request_id: Mapped[str | None] = mapped_column(String(200))
    client_address: Mapped[str | None] = mapped_column(String(200))
    payload_json: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as hashed


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(200), index=True)
    resource: Mapped[str] = mapped_column(String(200), index=True)
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, "outcome"))
    request_id: Mapped[str | None] = mapped_column(String(200))
    client_address: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The last chained event, and the Merkle tree's size and right edge (``frontier``: one
    32-byte hash per set bit of ``tree_size``, highest level first). ``tree_size`` lags ``seq``
    only for events chained before the tree existed; the sequencer catches it up."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint(f"id = {HEAD_ROW_ID}", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    tree_size: Mapped[int] = mapped_column(BigInteger, server_default="0")
    frontier: Mapped[bytes | None] = mapped_column(LargeBinary)


class AuditTreeNode(Base):
    """The hash of the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpointRow(Base):
    """A signed checkpoint (signed-note text) of the tree at ``tree_size`` events."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    origin: Mapped[str] = mapped_column(String(200))
    timestamp: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text)
