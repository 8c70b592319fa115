"""What one load run measured: typed results passed from the phases to the report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubmitFigures:
    clients: int
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    statuses: dict[str, int]


@dataclass(frozen=True)
class OpenLoopFigures:
    """Submissions arriving as a Poisson process at ``offered_per_second``, served by
    ``clients`` keep-alive connections; latency counts from each arrival's scheduled time."""

    fraction_of_capacity: float
    offered_per_second: float
    clients: int
    requests: int
    seconds: float
    achieved_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    # Scheduled arrival -> request sent: the client's timer and, if all clients were busy,
    # the wait for a free one (part of the latency above, shown apart).
    send_lag_p50_ms: float
    send_lag_p99_ms: float
    statuses: dict[str, int]


@dataclass(frozen=True)
class CpuFigures:
    """Where the box's CPU went during one phase, in cores (CPU seconds / wall seconds)."""

    phase: str
    seconds: float
    requests: int
    cores: dict[str, float]  # api, postgres, redis, benchmark (the clients), other, steal
    api_cpu_ms_per_request: float | None  # the API processes' CPU over requests answered


@dataclass(frozen=True)
class WorkerFigures:
    idle_jobs: int
    queue_to_start_ms: list[float]
    queue_to_start_p50_ms: float
    queue_to_start_max_ms: float
    backlog_jobs: int
    backlog_seconds: float
    render_p50_s: float
    jobs_per_hour: float
    states: dict[str, int]


@dataclass(frozen=True)
class LoadFigures:
    """Everything one run measured, in the order it ran."""

    closed_loop: list[SubmitFigures]  # one client, then ``--clients`` with no think time
    open_loop: list[OpenLoopFigures]  # ``--clients`` at fractions of the measured capacity
    cpu: list[CpuFigures]  # one per submit phase, same order (closed, then open)
    worker: WorkerFigures | None
