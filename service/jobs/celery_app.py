"""The Celery application, built from ``Settings`` by ``make_celery`` (never at import time).

Redis is the deployment broker; left unset, the broker is kombu's SQLAlchemy transport on a
SQLite file in the data directory, so the embedded default runs a real worker with no Redis.
Delivery is at least once and the worker is built for it: ``acks_late`` (a message is acked
after the task, so a crash re-delivers it), prefetch 1 (a GPU worker holds one job, not a
backlog another worker could be rendering), and JSON only. A message lost with a crashed
worker is not waited for: the job's lease expires and the reaper re-queues it through the
outbox (``service.jobs.leases``); the broker's visibility timeout is only the last resort.

The app carries its settings and builds the worker runtime (model, database, blob store)
lazily, once per process: a client that only publishes never loads the model.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError

from service.errors import BrokerUnavailable
from service.jobs.consent import real_gate
from service.jobs.gate import ConsentGate
from service.metrics import JobMetrics
from service.settings import Settings

if TYPE_CHECKING:
    from service.jobs.runtime import WorkerRuntime

RENDER_TASK = "likeness.jobs.render"
VERIFY_TASK = "likeness.consent.verify"  # consent evidence checks (service.jobs.evidence)
DEFAULT_QUEUE = "default"
# A publisher gives up quickly: the outbox keeps the entry and the relay sends it later, so
# an API request never hangs on a broker that is down.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
BROKER_CONNECT_TIMEOUT_S = 2.0
# Redis re-delivers an unacked message after this; leases recover a dead worker's job far
# sooner, so it only needs to exceed the longest render (a re-delivery mid-render is skipped).
REDIS_VISIBILITY_TIMEOUT_S = 6 * 3600


class LikenessCelery(Celery):
    """A Celery app holding the settings it was built from and its worker runtime.

    ``gate`` is asked again before each render; left out, it is the application's own
    (``service.jobs.consent.real_gate``): a worker never renders without the check."""

    def __init__(self, settings: Settings, gate: ConsentGate | None = None) -> None:
        super().__init__("likeness", set_as_current=False)
        self.likeness_settings = settings
        self.consent_gate: ConsentGate = gate if gate is not None else real_gate(settings)
        self._runtime: WorkerRuntime | None = None
        self._runtime_lock = threading.Lock()
        # Job outcomes and durations: only the worker sees them (the API scrapes the tables).
        self.job_metrics = JobMetrics()

    def runtime(self) -> WorkerRuntime:
        """The loaded model, sessions and blob store of this process (built on first use)."""
        from service.jobs.runtime import build_runtime  # torch: only workers pay for it

        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = build_runtime(self.likeness_settings, self.consent_gate)
            return self._runtime

    def forget_runtime(self) -> None:
        """Drop an inherited runtime in a forked child (CUDA and DB connections do not fork)."""
        with self._runtime_lock:
            if self._runtime is not None:
                self._runtime.engine.dispose(close=False)  # the parent's connections stay its
            self._runtime = None


def make_celery(settings: Settings, gate: ConsentGate | None = None) -> LikenessCelery:
    from service.jobs.evidence import register_evidence_tasks
    from service.jobs.tasks import (
        register_tasks,  # tasks import this module's constants
    )

    app = LikenessCelery(settings, gate)
    app.conf.update(_config(settings))
    register_tasks(app)
    register_evidence_tasks(app)
    return app


def _config(settings: Settings) -> dict[str, Any]:
    broker = settings.effective_broker_url
    return {
        "broker_url": broker,
        "broker_transport_options": _transport_options(broker),
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": BROKER_CONNECT_TIMEOUT_S,
        "result_backend": settings.result_backend,
        "task_ignore_result": settings.result_backend is None,
        "result_expires": 3600,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {RENDER_TASK: {"queue": settings.gpu_queue},
                        VERIFY_TASK: {"queue": settings.gpu_queue}},
        "task_publish_retry_policy": PUBLISH_RETRY,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


def _transport_options(broker: str) -> dict[str, Any]:
    if broker.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_S,
                "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_S}
    return {}  # kombu's SQLAlchemy transport hands its options to create_engine: none here


class CeleryPublisher:
    """The relay's publisher: one render task per outbox entry (the entry id is the task id)."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def publish(self, job_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        try:
            self._app.send_task(RENDER_TASK, args=[str(job_id)], task_id=str(entry_id),
                                retry=True, retry_policy=PUBLISH_RETRY)
        except (KombuOperationalError, OSError) as exc:
            raise BrokerUnavailable(f"the task broker is unavailable: {exc}",
                                    job_id=str(job_id)) from exc
