"""Verification's checkpoint side: every stored row and exported file, signature checked,
gathered into the roots the walk must meet; rollbacks, lost rows, time order and consistency
proofs between successive checkpoints (read from the stored tree nodes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from policy.audit.checkpoint import Checkpoint, NoteVerifier
from policy.audit.merkle import verify_consistency
from policy.errors import AuditCheckpointInvalid, AuditError
from service.audit.checkpoints import exported_sizes, read_exported, stored_checkpoints
from service.audit.findings import LogBreak, Reason
from service.audit.tree_store import stored_consistency


@dataclass
class CheckpointTargets:
    """Checkpoint roots to meet while streaming, by size, and problems found reading them."""

    roots: dict[int, bytes] = field(default_factory=dict)
    problems: list[LogBreak] = field(default_factory=list)
    latest_exported: Checkpoint | None = None

    def add(self, checkpoint: Checkpoint, where: str) -> None:
        known = self.roots.setdefault(checkpoint.size, checkpoint.root)
        if known != checkpoint.root:
            self.problems.append(LogBreak(max(checkpoint.size, 1), Reason.CHECKPOINT_CONFLICT,
                                          f"{where} checkpoint {checkpoint.size} has another root "
                                          "than the stored one"))


def read_exports(directory: Path | None, verifier: NoteVerifier,
                 targets: CheckpointTargets) -> list[int]:
    """Exported checkpoints into ``targets``; the exported sizes."""
    if directory is None:
        return []
    sizes = exported_sizes(directory)
    for size in sizes:
        try:
            exported = read_exported(directory, size, verifier)
        except AuditCheckpointInvalid as exc:
            targets.problems.append(LogBreak(max(size, 1), Reason.CHECKPOINT_INVALID,
                                             f"exported checkpoint {size}: {exc.message}"))
            continue
        targets.add(exported.checkpoint, "exported")
        targets.latest_exported = exported.checkpoint
    return sizes


def read_rows(session: Session, verifier: NoteVerifier,
              targets: CheckpointTargets) -> dict[int, datetime]:
    """Stored checkpoints into ``targets``; their times by size."""
    times: dict[int, datetime] = {}
    for size, found in stored_checkpoints(session, verifier):
        if isinstance(found, str):
            targets.problems.append(LogBreak(max(size, 1), Reason.CHECKPOINT_INVALID,
                                             f"stored checkpoint {size}: {found}"))
            continue
        targets.add(found.checkpoint, "stored")
        times[size] = found.checkpoint.timestamp
    return times


def still_unstored(session: Session, exported: list[int]) -> list[LogBreak]:
    """Exported sizes without a row, read after the walk (a checkpoint being made right now
    has its file before its row)."""
    stored = {size for size, _ in stored_checkpoints(session)}
    return [LogBreak(max(size, 1), Reason.CHECKPOINT_UNSTORED,
                     f"checkpoint {size} was exported but its row is missing")
            for size in exported if size not in stored]


def check_sizes_and_times(roots: dict[int, bytes], times: dict[int, datetime],
                          tree_size: int) -> list[LogBreak]:
    """Checkpoints beyond the tree (a rollback) and checkpoints older than smaller ones."""
    problems = []
    beyond = [size for size in roots if size > tree_size]
    if beyond:
        problems.append(LogBreak(tree_size + 1, Reason.ROLLED_BACK,
                                 f"checkpoint {max(beyond)} was signed but the log's tree holds "
                                 f"{tree_size} events"))
    ordered = sorted(times)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if times[after] < times[before]:
            problems.append(LogBreak(before + 1, Reason.CHECKPOINT_INVALID,
                                     f"checkpoint {after} is older than checkpoint {before}"))
    return problems


def check_consistency(session: Session, roots: dict[int, bytes]) -> list[LogBreak]:
    """Consistency proofs from the stored nodes between successive checkpoints."""
    sizes = sorted(roots)
    for old, new in zip(sizes, sizes[1:], strict=False):
        try:
            proof = stored_consistency(session, old, new)
            verify_consistency(old, new, roots[old], roots[new], proof)
        except AuditError as exc:
            return [LogBreak(old + 1, Reason.CHECKPOINT_INCONSISTENT,
                             f"checkpoints {old} -> {new}: {exc.message}")]
    return []
