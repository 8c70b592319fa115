"""Full verification of the stored audit log: chain, Merkle tree and signed checkpoints.

``verify_audit_log`` recomputes, from genesis and in keyset pages (bounded memory):

- every event's chain link (sequence, ``prev_hash``, ``hash``) and its Merkle leaf;
- every stored perfect tree node, against the nodes the recomputed leaves complete;
- the root at the size of every stored checkpoint and every exported checkpoint file, each
  signature checked, and a consistency proof (read from the stored nodes) between successive
  checkpoints;
- the head row (last link, tree size and frontier) against what the events give.

It names the first bad entry by sequence number and reason. An edit that rewrote the chain and
the tree consistently still cannot reproduce a signed root: it is located to the events after
the last checkpoint that still matches. A database restored from a backup older than the
newest exported checkpoint holds fewer events than that checkpoint (or, once it grew again,
another root), which is reported as a rollback. Without a snapshot transaction, reads are
ordered (checkpoints, then head, then events up to the head) so concurrent sequencing is not
mistaken for tampering.

The walk over events and nodes is ``verify_walk``; checkpoint rows and files are
``verify_checkpoints``; what either can find is ``findings``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from policy.audit import ChainHead
from policy.audit.checkpoint import Checkpoint, NoteVerifier
from service.audit.findings import LogBreak, Reason
from service.audit.retention import start_of_log
from service.audit.sequencer import DEFAULT_BATCH, sequence_pending
from service.audit.verify_checkpoints import (
    CheckpointTargets,
    check_consistency,
    check_sizes_and_times,
    read_exports,
    read_rows,
    still_unstored,
)
from service.audit.verify_walk import LogWalk, read_head
from service.errors import AuditLogError

__all__ = ["AuditLogReport", "LogBreak", "Reason", "report_json", "verify_audit_log",
           "verify_now"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditLogReport:
    events: int  # events whose chain link and leaf verified
    head: ChainHead  # the last verified link
    tree_size: int
    root: bytes  # recomputed root of the first ``tree_size`` events
    checkpoints: int  # distinct checkpoint sizes checked (rows and files)
    latest_exported: Checkpoint | None
    broken: LogBreak | None
    problems: tuple[LogBreak, ...] = ()  # everything found before the walk stopped, by seq

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_audit_log(session: Session, verifier: NoteVerifier,
                     checkpoint_dir: Path | None) -> AuditLogReport:
    """Verify the whole log (see the module docstring); never raises for tampering."""
    targets = CheckpointTargets()
    unstored = read_exports(checkpoint_dir, verifier, targets)
    checkpoint_times = read_rows(session, verifier, targets)
    head = read_head(session)
    walk = LogWalk(session, head, start_of_log(session))
    walk.run(targets.roots)
    problems = [*targets.problems, *walk.problems]
    problems += still_unstored(session, unstored)
    problems += check_sizes_and_times(targets.roots, checkpoint_times, walk.head_tree_size)
    if walk.complete:
        problems += check_consistency(session, targets.roots)
    problems.sort(key=lambda p: p.seq)
    return AuditLogReport(events=walk.verified, head=walk.chain, tree_size=walk.frontier.size,
                          root=walk.frontier.root(), checkpoints=len(targets.roots),
                          latest_exported=targets.latest_exported, broken=_first(problems),
                          problems=tuple(problems))


def _first(problems: list[LogBreak]) -> LogBreak | None:
    """The first bad entry. A rollback explains the checkpoint rows it lost (exported, not
    stored), so those do not hide it."""
    if any(p.reason == Reason.ROLLED_BACK for p in problems):
        problems = [p for p in problems if p.reason != Reason.CHECKPOINT_UNSTORED]
    return problems[0] if problems else None


def report_json(report: AuditLogReport) -> dict[str, Any]:
    """The report as plain JSON (CLI ``--json``, the officers' API)."""
    broken = report.broken
    latest = report.latest_exported
    return {
        "ok": report.ok, "events": report.events,
        "head": {"seq": report.head.seq, "hash": report.head.hash},
        "tree_size": report.tree_size, "root_hash": report.root.hex(),
        "checkpoints": report.checkpoints,
        "latest_exported": None if latest is None else {
            "tree_size": latest.size, "root_hash": latest.root.hex(),
            "timestamp": latest.timestamp.isoformat().replace("+00:00", "Z")},
        "first_bad": None if broken is None else _break_json(broken),
        "problems": [_break_json(p) for p in report.problems],
    }


def _break_json(problem: LogBreak) -> dict[str, Any]:
    return {"seq": problem.seq, "reason": problem.reason.value, "detail": problem.detail}


def verify_now(sessions: sessionmaker[Session], verifier: NoteVerifier,
               checkpoint_dir: Path | None, *, batch: int = DEFAULT_BATCH) -> AuditLogReport:
    """Sequence what is waiting, then verify the whole log in one transaction that writes
    nothing. Sequencing that fails (a tampered inbox or head) does not stop the verification,
    which then names what is wrong."""
    try:
        sequence_pending(sessions, batch=batch)
    except (AuditLogError, SQLAlchemyError):
        log.warning("sequencing before verification failed; verifying what is stored",
                    exc_info=True)
    with sessions() as session, session.begin():
        return verify_audit_log(session, verifier, checkpoint_dir)
