"""Retention that never breaks verifiability: whole checkpointed segments dropped as a prefix.

``prune_before`` drops every event up to the newest signed checkpoint whose events all
happened before a date, and nothing else:

1. the whole log must verify first (``service.audit.verify``): pruning never destroys the
   evidence of tampering;
2. the boundary (that checkpoint's size, the chain hash of its last event and its signed root)
   is recorded in ``audit_prunes``, which a trigger checks against the stored event and
   checkpoint, then events and their index rows up to it are deleted - the only DELETE the
   ``audit_events`` triggers let through, and on PostgreSQL only under the retention role with
   ``likeness.audit_retention = 'prune'`` set for the transaction;
3. the tree's nodes are all kept (hashes only, no event content), so the root of the pruned
   prefix - its frontier - and every proof for the remaining events still come from them.

Verification then starts at the boundary: the chain from the kept hash, the tree from the
kept frontier, which must reproduce the boundary checkpoint's signed root (``start_of_log``).
Each prune is itself an audit event (``retention:audit_log:prune``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from policy.audit import GENESIS, ChainHead
from policy.audit.checkpoint import NoteVerifier
from policy.audit.merkle import TreeFrontier
from service.audit.sequencer import sequence_pending
from service.audit.tree_store import SqlNodes
from service.db.audit import AuditContext, SqlAuditStore, record
from service.db.models import AuditCheckpointRow, AuditEventRef, AuditEventRow, AuditPrune
from service.db.types import utcnow
from service.errors import AuditLogError, RequestInvalid

RETENTION_ROLE = "likeness_retention"


@dataclass(frozen=True)
class LogStart:
    """Where the stored log begins: genesis, or the latest prune boundary."""

    chain: ChainHead  # the last pruned event's link (GENESIS when nothing was pruned)
    frontier: TreeFrontier  # the tree over the pruned events, from the kept nodes
    root: bytes | None  # the boundary checkpoint's signed root (None at genesis)


@dataclass(frozen=True)
class PruneResult:
    through_seq: int  # events 1..through_seq are gone (0: nothing pruned, ever)
    events_deleted: int  # by this call
    kept_from: int  # the first stored event now


def start_of_log(session: Session) -> LogStart:
    """The boundary verification starts from (see the module docstring)."""
    row = session.execute(select(AuditPrune.through_seq, AuditPrune.chain_hash,
                                 AuditPrune.root_hash)
                          .order_by(AuditPrune.through_seq.desc()).limit(1)).one_or_none()
    if row is None:
        return LogStart(GENESIS, TreeFrontier(), None)
    frontier = TreeFrontier.from_source(SqlNodes(session), row.through_seq)
    return LogStart(ChainHead(row.through_seq, row.chain_hash), frontier, bytes(row.root_hash))


def prune_before(session: Session, context: AuditContext, before: datetime, *,
                 verifier: NoteVerifier, checkpoint_dir: Path | None,
                 role: str | None = RETENTION_ROLE, now: datetime | None = None) -> PruneResult:
    """Drop the longest prefix of whole checkpointed segments older than ``before`` (the
    caller commits). ``role``: the PostgreSQL role to act as (``SET LOCAL ROLE``)."""
    from service.audit.verify import verify_audit_log

    if before.tzinfo is None or before.utcoffset() is None:
        raise RequestInvalid("--before needs a time zone (e.g. 2026-01-01T00:00:00Z)",
                             field="before")
    now = now or utcnow()
    sequence_pending(session)
    start = start_of_log(session)
    target = _target(session, start.chain.seq, before)
    if target is None:
        return PruneResult(start.chain.seq, 0, start.chain.seq + 1)
    report = verify_audit_log(session, verifier, checkpoint_dir)
    if not report.ok:
        b = report.broken
        raise AuditLogError(f"the audit log does not verify (event {b.seq}: {b.reason.value});"
                            " nothing is pruned from a log that may hold the evidence",
                            seq=b.seq, reason=b.reason.value)
    size, root = target
    chain_hash = session.scalar(select(AuditEventRow.hash).where(AuditEventRow.seq == size))
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:  # both undone at the end, and by a rollback
        if role is not None:
            session.execute(text(f'SET LOCAL ROLE "{_role_name(role)}"'))
        session.execute(text("SET LOCAL likeness.audit_retention = 'prune'"))
    stored = session.scalar(select(func.count()).select_from(AuditEventRow)
                            .where(AuditEventRow.seq <= size))
    session.add(AuditPrune(through_seq=size, chain_hash=chain_hash, root_hash=root,
                           events_deleted=stored, pruned_at=now, pruned_by=context.actor))
    session.flush()
    session.execute(delete(AuditEventRef).where(AuditEventRef.seq <= size))
    deleted = session.execute(delete(AuditEventRow).where(AuditEventRow.seq <= size)).rowcount
    record(session, context, "retention:audit_log:prune", f"audit_log:{size}", now=now,
           payload={"through_seq": size, "events_deleted": deleted,
                    "before": before.isoformat(), "previous_boundary": start.chain.seq})
    if postgresql:
        session.execute(text("SET LOCAL likeness.audit_retention = ''"))
        session.execute(text("RESET ROLE"))
    return PruneResult(size, deleted, size + 1)


def _target(session: Session, boundary: int, before: datetime) -> tuple[int, bytes] | None:
    """The newest checkpoint past ``boundary`` whose events all happened before ``before``."""
    first_young = session.scalar(select(func.min(AuditEventRow.seq)).where(
        AuditEventRow.seq > boundary, AuditEventRow.occurred_at >= before))
    limit = first_young - 1 if first_young is not None else SqlAuditStore().head(session).seq
    row = session.execute(
        select(AuditCheckpointRow.tree_size, AuditCheckpointRow.root_hash)
        .where(AuditCheckpointRow.tree_size > boundary, AuditCheckpointRow.tree_size <= limit)
        .order_by(AuditCheckpointRow.tree_size.desc()).limit(1)).one_or_none()
    return None if row is None else (row.tree_size, bytes(row.root_hash))


def _role_name(role: str) -> str:
    if not role.replace("_", "").isalnum() or len(role) > 63:
        raise RequestInvalid(f"{role!r} is not a role name", field="role")
    return role
