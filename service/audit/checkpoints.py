"""Signed checkpoints of the audit log: stored in ``audit_checkpoints`` and exported as files.

A checkpoint (``policy.audit.checkpoint``) signs the Merkle root of the first ``size`` events
with the log's Ed25519 key, in the signed-note format transparency logs use. Each one is also
written to the export directory (``LIKENESS_AUDIT_CHECKPOINT_DIR``), one file per tree size,
created with ``O_EXCL`` and never overwritten: pointed at write-once storage, those files are
what a database restored from an old backup, or rewritten by someone holding it, can no longer
match. The file is written before the row, so a crash between the two leaves an exported
checkpoint the next ``make_checkpoint`` adopts; a checkpoint is signed only while the tree
reproduces every exported one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from policy.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier
from policy.errors import AuditCheckpointInvalid
from service.audit.sequencer import lock_head
from service.audit.tree_store import stored_root
from service.db.models.audit import AuditCheckpointRow
from service.errors import AuditCheckpointConflict, DatabaseNotReady

_FILE = re.compile(r"([0-9]{20})\.note")
_ROWS = AuditCheckpointRow.__table__


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint and the signed note text it was read from."""

    checkpoint: Checkpoint
    note: str


@dataclass(frozen=True)
class MadeCheckpoint:
    """What ``make_checkpoint`` left: the latest checkpoint, and whether this call signed it."""

    stored: StoredCheckpoint
    created: bool
    path: Path


# -- the export directory -----------------------------------------------------------------------


def checkpoint_path(directory: Path, size: int) -> Path:
    return directory / f"{size:020d}.note"


def exported_sizes(directory: Path) -> list[int]:
    """Tree sizes with an exported checkpoint file, ascending."""
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for m in map(_FILE.fullmatch, os.listdir(directory)) if m)


def read_exported(directory: Path, size: int, verifier: NoteVerifier) -> StoredCheckpoint:
    """The exported checkpoint for ``size``, signature checked (``AuditCheckpointInvalid``)."""
    path = checkpoint_path(directory, size)
    try:
        note = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditCheckpointInvalid(f"cannot read exported checkpoint {path}: {exc}",
                                     reason="unreadable", path=str(path)) from exc
    checkpoint = verifier.verify(note, origin=verifier.name)
    if checkpoint.size != size:
        raise AuditCheckpointInvalid(f"exported checkpoint {path.name} states size "
                                     f"{checkpoint.size}", reason="file_name", path=str(path))
    return StoredCheckpoint(checkpoint, note)


def export_note(directory: Path, size: int, note: str) -> Path:
    """Write ``note`` as the file for ``size``: created exclusively, synced, read-only."""
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)  # FileExistsError if there
    try:
        os.write(fd, note.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)  # the name survives a crash too
    finally:
        os.close(directory_fd)
    return path


# -- the table -----------------------------------------------------------------------------------


def stored_checkpoints(session: Session, verifier: NoteVerifier | None = None
                       ) -> Iterator[tuple[int, StoredCheckpoint | str]]:
    """Rows by size: ``(size, StoredCheckpoint)``, or ``(size, reason)`` when the row's note
    does not verify or disagrees with its columns. Without ``verifier`` only the columns and
    the note's text are read (no signature check)."""
    rows = session.execute(select(_ROWS).order_by(_ROWS.c.tree_size)).all()
    for row in rows:
        yield row.tree_size, _row_checkpoint(row, verifier)


def stored_checkpoint(session: Session, verifier: NoteVerifier,
                      size: int) -> StoredCheckpoint | str | None:
    """The row for ``size``: verified, a reason it does not verify, or ``None`` if absent."""
    row = session.execute(select(_ROWS).where(_ROWS.c.tree_size == size)).first()
    return None if row is None else _row_checkpoint(row, verifier)


def _row_checkpoint(row: Any, verifier: NoteVerifier | None) -> StoredCheckpoint | str:
    if verifier is None:
        return StoredCheckpoint(Checkpoint(origin=row.origin, size=row.tree_size,
                                           root=bytes(row.root_hash), timestamp=row.timestamp),
                                row.note)
    try:
        checkpoint = verifier.verify(row.note, origin=verifier.name)
    except AuditCheckpointInvalid as exc:
        return f"{exc.context.get('reason', 'invalid')}: {exc.message}"
    columns = (row.origin, row.tree_size, bytes(row.root_hash), row.timestamp)
    if columns != (checkpoint.origin, checkpoint.size, checkpoint.root, checkpoint.timestamp):
        return "row_mismatch: the row's columns differ from its signed note"
    return StoredCheckpoint(checkpoint, row.note)


def latest_checkpoint(session: Session, verifier: NoteVerifier) -> StoredCheckpoint | None:
    """The newest stored checkpoint, its signature checked."""
    row = session.execute(select(_ROWS).order_by(_ROWS.c.tree_size.desc()).limit(1)).first()
    if row is None:
        return None
    found = _row_checkpoint(row, verifier)
    if isinstance(found, str):
        raise AuditCheckpointConflict(f"the latest stored checkpoint ({row.tree_size}) does not "
                                      f"verify: {found}", size=row.tree_size)
    return found


def _insert(session: Session, stored: StoredCheckpoint) -> None:
    c = stored.checkpoint
    session.execute(insert(AuditCheckpointRow).values(
        tree_size=c.size, root_hash=c.root, origin=c.origin, timestamp=c.timestamp,
        note=stored.note))


# -- making one ----------------------------------------------------------------------------------


def make_checkpoint(session: Session, signer: NoteSigner, now: datetime, *,
                    directory: Path) -> MadeCheckpoint:
    """Sign the current tree (unless its size already has a checkpoint), export it, store it.

    Runs in the session's transaction under the sequencer's lock; the caller commits. Refuses
    (``AuditCheckpointConflict``) when the tree does not reproduce the newest exported
    checkpoint: a rolled-back or rewritten log is never signed over.
    """
    head = lock_head(session, wait=True)
    if head is None:  # only a non-waiting lock returns None
        raise DatabaseNotReady("the audit chain head could not be locked")
    size, root = head.tree_size, head.frontier.root()
    if stored_root(session, size) != root:
        raise AuditCheckpointConflict("the tree's stored nodes and its head disagree: run "
                                      "`likeness audit verify`", size=size)
    _adopt_or_refuse_exports(session, signer.verifier, directory, size)
    latest = latest_checkpoint(session, signer.verifier)
    if latest is not None and latest.checkpoint.size > size:
        raise AuditCheckpointConflict(
            f"the log holds {size} events but checkpoint {latest.checkpoint.size} was signed: "
            "rolled back?", size=size, checkpoint=latest.checkpoint.size)
    if latest is not None and latest.checkpoint.size == size:
        return MadeCheckpoint(latest, created=False, path=checkpoint_path(directory, size))
    note = signer.sign(Checkpoint(origin=signer.name, size=size, root=root, timestamp=now))
    stored = StoredCheckpoint(signer.verifier.verify(note), note)
    try:
        path = export_note(directory, size, note)
    except FileExistsError:  # another process exported this size first: use theirs
        stored = _matching_export(directory, size, root, signer.verifier)
        path = checkpoint_path(directory, size)
    _insert(session, stored)
    return MadeCheckpoint(stored, created=True, path=path)


def _adopt_or_refuse_exports(session: Session, verifier: NoteVerifier, directory: Path,
                             size: int) -> None:
    """The newest export must be reproduced by the tree; one missing from the table (a crash
    between file and row) is stored now."""
    sizes = exported_sizes(directory)
    if not sizes:
        return
    newest = sizes[-1]
    if newest > size:
        raise AuditCheckpointConflict(
            f"the log holds {size} events but checkpoint {newest} was exported: the database "
            "was rolled back or truncated", size=size, exported=newest)
    exported = _matching_export(directory, newest, stored_root(session, newest), verifier)
    known = session.execute(select(_ROWS.c.tree_size).where(_ROWS.c.tree_size == newest)).first()
    if known is None:
        _insert(session, exported)


def _matching_export(directory: Path, size: int, root: bytes,
                     verifier: NoteVerifier) -> StoredCheckpoint:
    try:
        exported = read_exported(directory, size, verifier)
    except AuditCheckpointInvalid as exc:
        raise AuditCheckpointConflict(f"exported checkpoint {size} does not verify: "
                                      f"{exc.message}", size=size) from exc
    if exported.checkpoint.root != root:
        raise AuditCheckpointConflict(
            f"the tree of {size} events does not match its exported checkpoint: the log was "
            "rewritten or restored from an older state", size=size)
    return exported
