"""The worker side: queue-to-start with an idle worker, and jobs/hour through a backlog."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx
import numpy as np
from sqlalchemy import select, update

from benchmarks.service_load.figures import WorkerFigures
from benchmarks.service_load.fixtures import Assets
from benchmarks.service_load.processes import WorkerProcess
from service.db.engine import make_engine, make_session_factory, session_scope
from service.db.models import Job, JobState
from service.quickstart import _ok
from service.settings import Settings


def cancel_queued(settings: Settings) -> int:
    """Bulk-cancel the submit phase's jobs (a throwaway database: no audit events needed)."""
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            result = session.execute(update(Job).where(Job.state == JobState.QUEUED)
                                     .values(state=JobState.CANCELLED,
                                             finished_at=datetime.now(UTC)))
            return result.rowcount
    finally:
        engine.dispose()


def _jobs(settings: Settings, ids: list[str]) -> list[Job]:
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            rows = session.scalars(select(Job).where(Job.id.in_([uuid.UUID(i) for i in ids])))
            jobs = list(rows)
            session.expunge_all()
            return jobs
    finally:
        engine.dispose()


def _wait_finished(settings: Settings, ids: list[str], timeout: float = 1800) -> list[Job]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = _jobs(settings, ids)
        if all(job.finished_at is not None for job in jobs):
            return jobs
        time.sleep(0.25)
    raise RuntimeError(f"jobs did not finish in {timeout:.0f} s")


def _submit_one(http: httpx.Client, assets: Assets) -> str:
    response = _ok(http.post("/v1/jobs", json=assets.body(),
                             headers={"Idempotency-Key": str(uuid.uuid4())}))
    return response.json()["id"]


def worker_phase(base_url: str, api_key: str, settings: Settings, assets: Assets,
                 idle_jobs: int, backlog_jobs: int) -> WorkerFigures:
    states: Counter[str] = Counter()
    with WorkerProcess(settings), httpx.Client(base_url=base_url, timeout=60,
                                               headers={"X-Api-Key": api_key}) as http:
        # A first job warms the model's lazy parts; not counted.
        _wait_finished(settings, [_submit_one(http, assets)])
        waits = []
        for _ in range(idle_jobs):
            time.sleep(1.0)  # the worker has acked and is blocked on the queue again
            sent = time.time()
            job = _wait_finished(settings, [_submit_one(http, assets)])[0]
            states[job.state.value] += 1
            waits.append(round((job.started_at.timestamp() - sent) * 1000, 1))
        time.sleep(1.0)
        batch = [_submit_one(http, assets) for _ in range(backlog_jobs)]
        jobs = _wait_finished(settings, batch)
    states.update(job.state.value for job in jobs)
    first = min(job.started_at for job in jobs)
    last = max(job.finished_at for job in jobs)
    seconds = (last - first).total_seconds()
    renders = [(job.finished_at - job.started_at).total_seconds() for job in jobs]
    return WorkerFigures(idle_jobs, waits, round(float(np.median(waits)), 1),
                         round(float(max(waits)), 1), backlog_jobs, round(seconds, 2),
                         round(float(np.median(renders)), 2),
                         round(backlog_jobs / seconds * 3600, 1), dict(states))
