"""Sending a submission's outbox entry after its commit, batched across concurrent requests.

Each accepted job used to run its own relay round after the response (a connection checkout,
``SELECT ... FOR UPDATE SKIP LOCKED``, the publish, ``UPDATE``, ``COMMIT``): six database round
trips per job, most of a submission's database work once the job itself is written. Here one
thread per API process runs the rounds: whatever entries arrived while the previous round ran
go in the next one together (``OutboxRelay.send_now`` with many ids: one select, one commit),
so under load the fixed cost is shared, and a lone request is sent as soon as it arrives.

The guarantees are the relay's own: only committed entries are sent, a broker that is down
leaves them due for the periodic relay (the workers' maintenance loop), a duplicate is
harmless. ``send`` returns once the round holding its entries is over - the request's
background task ends when its job is on the queue (or left due), as before.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from service.jobs.outbox import RELAY_BATCH, OutboxRelay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Waiting:
    entry_ids: tuple[uuid.UUID, ...]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


_STOP = object()


class OutboxSender:
    """One sending thread per process; ``await send(ids)`` from a request's background task."""

    def __init__(self, relay: OutboxRelay) -> None:
        self._relay = relay
        self._queue: queue.SimpleQueue[_Waiting | object] = queue.SimpleQueue()
        self._lock = threading.Lock()  # orders ``send``'s put against ``close``'s stop
        self._closed = False
        self._thread: threading.Thread | None = None  # started by the first ``send``

    async def send(self, entry_ids: Sequence[uuid.UUID | None]) -> None:
        ids = tuple(entry_id for entry_id in entry_ids if entry_id is not None)
        if not ids:
            return
        loop = asyncio.get_running_loop()
        waiting = _Waiting(ids, loop, loop.create_future())
        with self._lock:
            queued = not self._closed
            if queued:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="likeness-outbox-sender")
                    self._thread.start()
                self._queue.put(waiting)
        if queued:
            await waiting.done
        else:  # shutting down: this request sends its own entries, as without a sender
            await run_in_threadpool(self._relay.send_now, list(ids))

    def close(self, timeout: float = 10.0) -> None:
        """Finish the rounds already asked for, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = [first], False
            while len(batch) < RELAY_BATCH:  # whatever queued up meanwhile joins this round
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._round(batch)
            if stop:
                return

    def _round(self, batch: list[_Waiting]) -> None:
        ids = [entry_id for waiting in batch for entry_id in waiting.entry_ids]
        try:
            for start in range(0, len(ids), RELAY_BATCH):  # the relay reads at most a batch
                self._relay.send_now(ids[start:start + RELAY_BATCH])
        except Exception:  # the database is unreachable: the entries stay due
            log.exception("outbox: sending %d entr(ies) after commit failed; the periodic "
                          "relay will send them", len(ids))
        for waiting in batch:
            try:
                waiting.loop.call_soon_threadsafe(_finish, waiting.done)
            except RuntimeError:  # that request's event loop is gone: nobody waits
                pass


def _finish(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
