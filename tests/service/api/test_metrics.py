"""Prometheus metrics: ``GET /metrics`` counts requests by route template, reads the queue
depth from the jobs table at scrape time and can require a token; a worker's job metrics are
served on a port of its own."""

from __future__ import annotations

import urllib.request
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from service.db import make_session_factory, utcnow
from service.db.models import Job, JobState
from service.metrics import JobMetrics, serve_worker_metrics
from tests.service.api.conftest import World, build_world, make_settings
from tests.service.webhooks.conftest import make_partner


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(world: World, headers: dict[str, str] | None = None) -> dict:
    response = world.client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_requests_are_counted_by_route_template_and_status(api: World) -> None:
    api.client.get("/healthz")
    missing = "0193aaaa-0000-7000-8000-000000000000"
    assert api.client.get(f"/v1/consents/{missing}", headers=api.officer()).status_code == 404
    api.client.get("/no/such/path")
    metrics = scrape(api)
    count = ("likeness_http_requests_total",
             frozenset({("method", "GET"), ("route", "/v1/consents/{consent_id}"),
                        ("status", "404")}))
    assert metrics[count] == 1
    assert metrics[("likeness_http_requests_total", frozenset(
        {("method", "GET"), ("route", "unmatched"), ("status", "404")}))] == 1
    assert not any(missing in str(key) for key in metrics)  # ids never become labels
    latency = ("likeness_http_request_duration_seconds_count",
               frozenset({("method", "GET"), ("route", "/healthz")}))
    assert metrics[latency] == 1


def test_queue_depth_comes_from_the_jobs_table(api: World) -> None:
    before = scrape(api)
    depth = ("likeness_job_queue_depth", frozenset())
    assert before[("likeness_metrics_database_up", frozenset())] == 1
    sessions = make_session_factory(api.engine)
    for _ in range(2):
        make_partner(sessions, state=JobState.QUEUED)
    after = scrape(api)
    assert after[depth] == before[depth] + 2
    queued = ("likeness_jobs", frozenset({("state", "queued")}))
    assert after[queued] == after[depth]
    assert after[("likeness_job_oldest_queued_seconds", frozenset())] >= 0


def test_a_metrics_token_can_be_required(pg_engine: Engine, tmp_path: Path,
                                         redis_prefix: str) -> None:
    world = build_world(pg_engine, make_settings(tmp_path, redis_prefix, metrics_token="s3cret"))
    with world.client:
        assert world.client.get("/metrics").status_code == 401
        assert world.client.get("/metrics", headers={"Authorization": "Bearer nope"}
                                ).status_code == 401
        scrape(world, {"Authorization": "Bearer s3cret"})


def test_workers_record_outcomes_and_durations_on_their_own_port() -> None:
    metrics = JobMetrics()
    now = utcnow()
    metrics.observe_job(Job(state=JobState.SUCCEEDED, started_at=now - timedelta(seconds=42),
                            finished_at=now))
    metrics.observe_job(Job(state=JobState.FAILED, error_code="no_face", started_at=now,
                            finished_at=now + timedelta(seconds=3)))
    metrics.job_finished(JobState.CANCELLED, None)  # cancelled before it started
    server = serve_worker_metrics(metrics, 0, "127.0.0.1")
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            served = samples(response.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    finished = "likeness_jobs_finished_total"
    assert served[(finished, frozenset({("state", "succeeded"), ("error_code", "")}))] == 1
    assert served[(finished, frozenset({("state", "failed"), ("error_code", "no_face")}))] == 1
    assert served[(finished, frozenset({("state", "cancelled"), ("error_code", "")}))] == 1
    assert served[("likeness_job_duration_seconds_sum",
                   frozenset({("state", "succeeded")}))] == 42
    assert ("likeness_job_duration_seconds_count",
            frozenset({("state", "cancelled")})) not in served
