"""Prometheus metrics, each process with its own registry (built at the edges, no globals).

The API exposes ``GET /metrics`` (``service.api.routes.metrics``) from ``ApiMetrics``:

- ``likeness_http_requests_total{method,route,status}`` and
  ``likeness_http_request_duration_seconds{method,route}``, labelled by the *route template*
  (``/v1/consents/{consent_id}``), never the raw path, so ids cannot explode the series;
- ``likeness_jobs{state}``, ``likeness_job_queue_depth`` (queued jobs),
  ``likeness_job_oldest_queued_seconds`` and ``likeness_webhook_deliveries_pending``, read
  from the database at scrape time by ``DatabaseCollector``: they are true however many
  API and worker processes there are, and cost one small query per scrape.

Workers count what only they see with ``JobMetrics``: finished jobs by state and error code,
and how long each ran. A worker serves its own registry (``serve_worker_metrics``), since
Prometheus scrapes every process rather than one aggregating the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.db.models import DeliveryStatus, Job, JobState, WebhookDelivery
from service.db.types import utcnow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"  # requests no route answered (404s for random paths)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)


class DatabaseCollector(Collector):
    """Job and delivery counts from the tables, computed on each scrape."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("likeness_metrics_database_up",
                               "1 if the last scrape could read the database")
        try:
            with self.sessions() as session:
                states = {state: count for state, count in session.execute(
                    select(Job.state, func.count()).group_by(Job.state))}
                oldest = session.scalar(select(func.min(Job.created_at))
                                        .where(Job.state == JobState.QUEUED))
                pending = session.scalar(select(func.count()).select_from(WebhookDelivery)
                                         .where(WebhookDelivery.status == DeliveryStatus.PENDING))
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily("likeness_jobs", "jobs in the table by state", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], states.get(state, 0))
        yield jobs
        yield GaugeMetricFamily("likeness_job_queue_depth", "jobs waiting for a worker",
                                value=states.get(JobState.QUEUED, 0))
        age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
        yield GaugeMetricFamily("likeness_job_oldest_queued_seconds",
                                "age of the oldest queued job (0 when none)", value=age)
        yield GaugeMetricFamily("likeness_webhook_deliveries_pending",
                                "webhook deliveries waiting for an attempt", value=pending or 0)


class ApiMetrics:
    """The API process's registry: request metrics plus the database collector."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        # No auto_describe: it would run the database collector when the app is built.
        self.registry = CollectorRegistry()
        self.requests = Counter("likeness_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("likeness_http_request_duration_seconds",
                                 "time to answer an HTTP request", ["method", "route"],
                                 buckets=REQUEST_BUCKETS, registry=self.registry)
        self.registry.register(DatabaseCollector(sessions))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and labels it with the route template that served it."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # set by the router on the shared scope
            template = getattr(route, "path_format", None) or UNMATCHED
            self.metrics.observe_request(scope.get("method", ""), template, status[0],
                                         time.perf_counter() - started)


class JobMetrics:
    """What a worker records as each job ends (call ``job_finished`` after the commit)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.finished = Counter("likeness_jobs_finished", "jobs that reached a final state",
                                ["state", "error_code"], registry=self.registry)
        self.duration = Histogram("likeness_job_duration_seconds",
                                  "time from a job's start to its final state", ["state"],
                                  buckets=JOB_BUCKETS, registry=self.registry)

    def job_finished(self, state: JobState, seconds: float | None,
                     error_code: str | None = None) -> None:
        """``seconds``: started_at to finished_at (None when the job never started)."""
        self.finished.labels(state.value, error_code or "").inc()
        if seconds is not None:
            self.duration.labels(state.value).observe(max(0.0, seconds))

    def observe_job(self, job: Job) -> None:
        """The same from a finished job row."""
        seconds = None if job.started_at is None or job.finished_at is None \
            else (job.finished_at - job.started_at).total_seconds()
        self.job_finished(job.state, seconds, job.error_code)


def serve_worker_metrics(metrics: JobMetrics, port: int,
                         address: str = "0.0.0.0") -> WSGIServer:
    """Expose a worker's registry on its own port (a daemon thread); ``shutdown()`` stops it."""
    server, _thread = start_http_server(port, addr=address, registry=metrics.registry)
    return server
