"""Tables behind officers' access to the audit log (``service.audit``), beside the chain.

- ``audit_personal_keys``: one AES-256-GCM key per person an event may name (``subject:<uuid>``,
  ``user:<uuid>``), stored wrapped by the deployment's master key. Personal fields in event
  payloads are sealed under it; erasing the person sets ``wrapped_key`` to NULL
  (crypto-shredding), so the immutable, hash-chained events keep verifying while their personal
  fields can no longer be read. The row stays, with ``erased_at``, as the record of erasure.
- ``audit_event_refs``: per event, the organisation, subject and job it concerns, derived from
  the event and the rows it names (``service.audit.refs``), so officers can filter by partner,
  subject or job through indexes. Rebuildable from the events; not part of what is hashed.
- ``audit_prunes``: the boundaries retention pruned the log at (``AuditPrune``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base


class AuditPersonalKey(Base):
    __tablename__ = "audit_personal_keys"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    # version (1 byte) || nonce (12) || AES-256-GCM(master key, data key, aad = owner)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]


class AuditEventRef(Base):
    __tablename__ = "audit_event_refs"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class AuditPrune(Base):
    """A pruned prefix of the log: events ``1..through_seq`` were dropped by retention.

    Only whole checkpointed segments go: ``through_seq`` is a signed checkpoint's size, and the
    kept chain hash of event ``through_seq`` and the kept tree nodes let verification start at
    this boundary (the checkpoint's signed root anchors it). Append-only; inserts are checked
    by a trigger (a later boundary, the event's real hash, the checkpoint's real root) and, on
    PostgreSQL, allowed only to the retention role (see migration 0009 and docs/audit.md).
    """

    __tablename__ = "audit_prunes"

    through_seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audit_checkpoints.tree_size"), primary_key=True,
        autoincrement=False)
    chain_hash: Mapped[str] = mapped_column(String(64))
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    events_deleted: Mapped[int] = mapped_column(BigInteger)
    pruned_at: Mapped[datetime]
    pruned_by: Mapped[str] = mapped_column(String(200))
