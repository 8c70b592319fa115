"""Where the sequencer and the periodic checkpoints run.

- every worker's maintenance loop: ``AuditMaintenance`` sequences the inbox each round and
  signs a checkpoint every ``audit_checkpoint_interval_seconds`` when the tree has grown;
- every API process: ``SequencerThread``, a small background thread sequencing each
  ``audit_sequencer_interval_seconds``;
- on demand before a read of the log (verify, proofs, queries, exports): ``sequence_pending``.

Background sequencers never wait for the lock (``wait=False``): when another one holds it,
that one is doing the work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from policy.audit.checkpoint import NoteSigner
from service.audit.checkpoints import MadeCheckpoint, make_checkpoint
from service.audit.log_keys import load_log_signer
from service.audit.sequencer import sequence_pending
from service.db.engine import session_scope
from service.db.models.audit import HEAD_ROW_ID, AuditChainHead, AuditCheckpointRow
from service.db.types import utcnow
from service.errors import KeysMissing
from service.settings import Settings

log = logging.getLogger(__name__)


def checkpoint_if_grown(sessions: sessionmaker[Session], signer: NoteSigner, now: datetime, *,
                        settings: Settings) -> MadeCheckpoint | None:
    """A new checkpoint when the tree holds events the newest checkpoint does not."""
    with session_scope(sessions) as session:
        size = session.execute(select(AuditChainHead.tree_size).where(
            AuditChainHead.id == HEAD_ROW_ID)).scalar_one_or_none()
        signed = session.execute(select(func.max(AuditCheckpointRow.tree_size))).scalar_one()
    if not size or (signed is not None and signed >= size):
        return None
    with session_scope(sessions) as session:
        return make_checkpoint(session, signer, now, directory=settings.audit_checkpoint_root)


@dataclass
class AuditMaintenance:
    """One maintenance round's audit work (a worker's ``_periodic_work`` calls it)."""

    settings: Settings
    sessions: sessionmaker[Session]
    clock: Callable[[], float] = time.monotonic
    _last_checkpoint: float | None = None
    _signer: NoteSigner | None = None
    _warned: bool = False

    def __call__(self) -> None:
        sequence_pending(self.sessions, batch=self.settings.audit_sequencer_batch, wait=False)
        now = self.clock()
        interval = self.settings.audit_checkpoint_interval_seconds
        if self._last_checkpoint is not None and now - self._last_checkpoint < interval:
            return
        signer = self._load_signer()
        if signer is None:
            return
        self._last_checkpoint = now
        made = checkpoint_if_grown(self.sessions, signer, utcnow(), settings=self.settings)
        if made is not None and made.created:
            log.info("audit checkpoint %d signed and exported to %s",
                     made.stored.checkpoint.size, made.path)

    def _load_signer(self) -> NoteSigner | None:
        if self._signer is None:
            try:
                self._signer = load_log_signer(self.settings)
            except KeysMissing as exc:
                if not self._warned:
                    log.warning("no audit checkpoints: %s", exc.message)
                    self._warned = True
        return self._signer


class SequencerThread:
    """Sequences the audit inbox every ``interval`` seconds on a daemon thread."""

    def __init__(self, sessions: sessionmaker[Session], *, interval: float, batch: int) -> None:
        self._sessions, self._interval, self._batch = sessions, interval, batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="likeness-audit-sequencer",
                                        daemon=True)

    def start(self) -> SequencerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the round in hand; events still waiting are sequenced by the next one
        (any process's), so nothing is lost."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                sequence_pending(self._sessions, batch=self._batch, wait=False)
            except Exception:  # a database outage must not end the thread; log and retry
                log.exception("audit sequencing round failed")
