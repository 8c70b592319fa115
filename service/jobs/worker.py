"""Worker bootstrap: ``run_worker(settings)`` and ``python -m service.jobs.worker``.

A GPU worker is one process per device with the solo pool: the model is loaded once, on the
device from settings (CPU when none), *before* the worker consumes, so a worker with missing
keys or weights fails at start rather than on every task. The prefork pool (CPU fleets) loads
it in each child instead (``worker_process_init``): CUDA state and database connections must
not cross a fork.

``EmbeddedWorker`` runs the same worker on a thread of the calling process (the embedded
default: one command, no Redis).

Each worker also runs the maintenance loop in a thread - the lease reaper and the outbox relay
(``service.jobs.outbox.run_maintenance``), webhooks, retention and the audit sequencer
(``_periodic_work``) - so a fleet needs no extra process: when a worker
dies, any surviving or newly started worker re-queues its job once the lease expires. Reapers
and relays in several processes are safe (``SKIP LOCKED``).
"""

from __future__ import annotations

import argparse
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib import import_module
from typing import Self

from celery.signals import worker_process_init
from celery.utils.nodenames import default_nodename, host_format
from sqlalchemy.orm import Session, sessionmaker

from service.db.engine import make_engine, make_session_factory
from service.jobs.celery_app import CeleryPublisher, LikenessCelery, make_celery
from service.jobs.gate import ConsentGate
from service.jobs.outbox import OutboxRelay, run_maintenance
from service.metrics import serve_worker_metrics
from service.settings import Settings

log = logging.getLogger(__name__)

POOLS = ("solo", "prefork")


def run_worker(settings: Settings, gate: ConsentGate | None = None, *, pool: str = "solo",
               concurrency: int = 1, maintenance: bool = True, loglevel: str = "INFO",
               hostname: str | None = None, metrics_port: int | None = None) -> int:
    """Consume the GPU queue until a shutdown signal; returns the worker's exit code."""
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}")
    app = make_celery(settings, gate)
    app.set_current()  # the pool resolves task names through the current app
    app.set_default()
    if metrics_port is not None:  # job outcomes and durations for Prometheus
        serve_worker_metrics(app.job_metrics, metrics_port)
    if pool == "solo":
        runtime = app.runtime()
        log.info("model loaded on %s", runtime.device)
        engine = runtime.engine
    else:
        _load_in_children(app)
        engine = make_engine(settings.database_url)  # the parent's own: no model here
    stop = threading.Event()
    keeper = _start_maintenance(app, make_session_factory(engine), stop) if maintenance else None
    try:
        worker = app.Worker(pool=pool, concurrency=concurrency, queues=[settings.gpu_queue],
                            loglevel=loglevel, hostname=host_format(default_nodename(hostname)),
                            without_gossip=True, without_mingle=True, without_heartbeat=True,
                            optimization="fair")
        worker.start()
        return worker.exitcode or 0
    finally:
        stop.set()
        if keeper is not None:
            keeper.join()
        engine.dispose()


def _load_in_children(app: LikenessCelery) -> None:
    def load(**_kwargs: object) -> None:
        app.forget_runtime()  # anything inherited from the parent is not ours to use
        log.info("model loaded on %s", app.runtime().device)
        # The model and libraries are the process's life-long heap: frozen, the cyclic GC
        # stops walking them (~120 ms a full pass, a stall in the frames of a streamed job).
        gc.collect()
        gc.freeze()

    worker_process_init.connect(load, weak=False)


# A worker sweeps the blob store for orphans at most this often: listing a bucket is expensive.
ORPHAN_SWEEP_INTERVAL_SECONDS = 3600.0


def _periodic_work(settings: Settings, sessions: sessionmaker[Session], *,
                   clock: Callable[[], float] = time.monotonic) -> Callable[[], object]:
    """What the maintenance loop does besides relaying and reaping: deliver due webhooks (job
    events), when configured purge uploads and released videos' bytes past their retention,
    delete face templates no living consent needs and consent evidence past its retention,
    delete orphan blobs (in the first round, then at most once an hour by ``clock``), and
    last (after the rest has written its audit events) sequence the audit log and sign its
    periodic checkpoint."""
    from service.audit.runner import AuditMaintenance
    from service.db.audit import AuditContext
    from service.db.engine import session_scope
    from service.db.types import utcnow
    from service.jobs.retention import (
        delete_unneeded_templates,
        purge_decided_evidence,
        purge_expired_artifacts,
        purge_expired_media,
        sweep_orphan_blobs,
    )
    from service.storage import make_blob_store
    from service.webhooks.delivery import DeliveryConfig, WebhookClient, deliver_due

    client, config = WebhookClient.from_settings(settings), DeliveryConfig.from_settings(settings)
    store, context = make_blob_store(settings), AuditContext(actor="system:retention")
    audit = AuditMaintenance(settings, sessions)
    last_sweep: float | None = None

    def sweep_orphans() -> None:
        nonlocal last_sweep
        if settings.orphan_blob_grace_hours is None or (
                last_sweep is not None
                and clock() - last_sweep < ORPHAN_SWEEP_INTERVAL_SECONDS):
            return
        last_sweep = clock()  # before the sweep: a failing one is not retried every round
        with session_scope(sessions) as session:
            swept = sweep_orphan_blobs(session, context, store, now=utcnow(),
                                       grace=timedelta(hours=settings.orphan_blob_grace_hours))
        if swept.blobs_deleted:
            log.info("deleted %d orphan blobs (%d bytes)", swept.blobs_deleted,
                     swept.bytes_deleted)

    def run() -> None:
        deliver_due(sessions, utcnow(), client, config)
        if settings.media_retention_days is not None:
            with session_scope(sessions) as session:
                purge_expired_media(session, context, store,
                                    retention_days=settings.media_retention_days, now=utcnow())
        if settings.artifact_retention_days is not None:
            with session_scope(sessions) as session:
                purge_expired_artifacts(session, context, store, now=utcnow(),
                                        retention_days=settings.artifact_retention_days)
        with session_scope(sessions) as session:  # data minimisation (issue 5)
            delete_unneeded_templates(session, context, now=utcnow())
            if settings.evidence_retention_days is not None:
                purge_decided_evidence(session, context, store, now=utcnow(),
                                       retention_days=settings.evidence_retention_days)
        sweep_orphans()
        audit()

    return run


def _start_maintenance(app: LikenessCelery, sessions: sessionmaker[Session],
                       stop: threading.Event) -> threading.Thread:
    from service.jobs.evidence import make_verification_relay

    settings = app.likeness_settings
    relay = OutboxRelay(sessions, CeleryPublisher(app),
                        resend_after_seconds=settings.outbox_resend_after_seconds)
    periodic = _periodic_work(settings, sessions)
    verifications = make_verification_relay(settings, sessions, app)

    def also() -> None:
        verifications.relay_once()  # consent evidence still waiting for a worker
        periodic()  # last: it sequences the audit events the rest wrote

    thread = threading.Thread(
        target=run_maintenance, name="likeness-maintenance", daemon=True,
        kwargs={"sessions": sessions, "relay": relay, "max_attempts": settings.job_max_attempts,
                "interval_seconds": settings.maintenance_interval_seconds, "stop": stop,
                "also": also})
    thread.start()
    return thread


class EmbeddedWorker:
    """A real worker on a thread of this process: the embedded default's one-command mode.

    The same task code, the same broker protocol (kombu's SQLAlchemy transport on SQLite by
    default), not Celery's eager mode; only the process is shared. Use as a context manager or
    ``start()`` / ``stop()``. Celery's signal handlers stay with the host (its main thread).
    Celery marks the host a worker process for good: ``AsyncResult.get()`` refuses to block
    in it (the API reads job state from the database, never from task results).
    """

    def __init__(self, settings: Settings, gate: ConsentGate | None = None, *,
                 maintenance: bool = True, hostname: str = "embedded@%h") -> None:
        self.app = make_celery(settings, gate)
        self._maintenance = maintenance
        self._hostname = hostname
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._controller = None

    def start(self) -> Self:
        runtime = self.app.runtime()  # the model loads here, before anything is consumed
        settings = self.app.likeness_settings
        self._controller = self.app.WorkController(
            pool="solo", concurrency=1, queues=[settings.gpu_queue],
            hostname=host_format(default_nodename(self._hostname)), without_gossip=True,
            without_mingle=True, without_heartbeat=True, optimization="fair")
        consumer = threading.Thread(target=self._consume, name="likeness-worker", daemon=True)
        consumer.start()
        self._threads.append(consumer)
        if self._maintenance:
            self._threads.append(_start_maintenance(self.app, runtime.sessions, self._stop))
        return self

    def _consume(self) -> None:
        # The solo pool resolves task names through the thread's *current* app; make it ours,
        # or another LikenessCelery app in this process (the API's publisher) would answer.
        self.app.set_current()
        self._controller.start()

    def stop(self) -> None:
        """Finish the task in hand (warm shutdown), then stop the maintenance loop."""
        if self._controller is not None:
            self._controller.stop(in_sighandler=False)
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        self.app.runtime().close()
        self.app.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.jobs.worker",
                                     description="Run a likeness GPU worker (LIKENESS_* settings).")
    parser.add_argument("--pool", choices=POOLS, default="solo")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--no-maintenance", action="store_true",
                        help="do not run the lease reaper and outbox relay in this worker")
    parser.add_argument("--gate", metavar="MODULE:NAME",
                        help="the consent gate asked again before each render (default: the "
                             "application's, service.jobs.consent.real_gate)")
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--hostname", help="node name; %%h is this host (default celery@%%h)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gate = _import(args.gate) if args.gate else None
    return run_worker(Settings(), gate, pool=args.pool, concurrency=args.concurrency,
                      maintenance=not args.no_maintenance, loglevel=args.loglevel,
                      hostname=args.hostname)


def _import(spec: str) -> ConsentGate:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise SystemExit(f"--gate must be MODULE:NAME; got {spec!r}")
    return getattr(import_module(module), name)


if __name__ == "__main__":
    raise SystemExit(main())
