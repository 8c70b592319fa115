"""Partner service under load: submit capacity and latency, queue-to-start latency, jobs/hour
per CPU worker.

    .venv/bin/python -m benchmarks.service_load [--clients 100] [--requests 2000]
        [--open-loop-fractions 0.25,0.5,0.75] [--open-loop-seconds 60] [--seed 0]
        [--api-workers 2] [--api-layout ports] [--postgres URL] [--idle-jobs 5] [--backlog-jobs 10]

Real pieces only: a fresh PostgreSQL database (created and dropped here, migrated with
alembic), the shared Redis (rate limits in DB 14 under a unique key prefix, the Celery broker
in DB 13 on a unique queue name; both cleaned up after), the partner API under uvicorn in
``--api-workers`` subprocesses (``--api-layout``, see ``ApiProcesses``), and a
real ``python -m service.jobs.worker`` subprocess on the CPU.

1. Setup over HTTP, like ``likeness quickstart``: operator, officer, vetted partner and its API
   key; the sample portrait registered as a consented subject, approved by the officer; then a
   portrait (of that subject) and a 2 s speech clip uploaded and validated once.
2. Submit phase, no worker running: first one client (``--baseline-requests``: the service
   time without queueing), then ``--clients`` threads, one keep-alive httpx client each,
   POST /v1/jobs referencing those assets with a unique Idempotency-Key, ``--requests`` in all.
   Latency is client-side (request sent to response read), so it includes the consent gate,
   quota count, the job + outbox + audit transaction and the client threads' own CPU share.
   This closed loop has no think time: the ``--clients`` keep the service saturated, and its
   throughput is the capacity of the box.
   Then the open loop, one run per ``--open-loop-fractions`` (of that capacity): the same
   ``--clients`` connections, submissions arriving as a seeded Poisson process at the offered
   rate for ``--open-loop-seconds``, each taken by the next free client; latency counts from
   the scheduled arrival (so a wait for a free client is not hidden). CPU per phase is read
   from /proc: the API processes, PostgreSQL, Redis, this process, and everything else.
3. The queued jobs are cancelled and the broker queue purged; one worker starts. Queue-to-start
   is ``jobs.started_at`` (the worker took the lease) minus the client's clock just before the
   POST, for jobs submitted one at a time while the worker is idle. Jobs/hour per worker is
   ``--backlog-jobs`` submitted at once, divided by first start -> last finish.

Writes ``reports/service/load.md`` and ``load.json`` (``--report STEM``). Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import gc
import shlex
import sys
import tempfile
import uuid
from pathlib import Path

from redis import Redis

from benchmarks.service_load.clients import open_loop_phase, submit_phase
from benchmarks.service_load.cpu import CpuMeter
from benchmarks.service_load.environment import (
    DEFAULT_POSTGRES,
    ROOT,
    bench_settings,
    clean_redis,
    create_database,
    drop_database,
    machine,
    purge_queue,
    versions,
)
from benchmarks.service_load.figures import CpuFigures, LoadFigures, OpenLoopFigures, SubmitFigures
from benchmarks.service_load.fixtures import Assets, setup_subject, write_clip
from benchmarks.service_load.processes import ApiProcesses, ThreadServer
from benchmarks.service_load.report import rewrite_report, write_report
from benchmarks.service_load.worker import cancel_queued, worker_phase
from service.db.engine import make_engine
from service.db.migrate import upgrade_database
from service.keys import init_development_keys

REPORT_DIR = ROOT / "reports" / "service"


def _fractions(text: str) -> list[float]:
    values = [float(part) for part in text.split(",") if part.strip()]
    if any(not 0 < value < 1 for value in values):
        raise argparse.ArgumentTypeError("fractions of capacity lie between 0 and 1")
    return sorted(values)


def submit_phases(args: argparse.Namespace, urls: list[str], api_pids: list[int],
                  api_key: str, assets: Assets) -> tuple[list[SubmitFigures],
                                                         list[OpenLoopFigures],
                                                         list[CpuFigures]]:
    meter = CpuMeter(api_pids)
    closed, open_loop, cpu = [], [], []
    for clients, requests in ((1, args.baseline_requests), (args.clients, args.requests)):
        if requests > 0:
            before = meter.snapshot()
            closed.append(submit_phase(urls, api_key, assets, clients, requests))
            cpu.append(meter.figures(f"closed, {clients} client(s)", before, requests))
            print(f"closed loop: {closed[-1]}", flush=True)
    capacity = closed[-1].requests_per_second if closed else 0.0
    for index, fraction in enumerate(args.open_loop_fractions if capacity else []):
        before = meter.snapshot()
        run = open_loop_phase(urls, api_key, assets, args.clients, fraction * capacity,
                              args.open_loop_seconds, fraction, args.seed + index)
        open_loop.append(run)
        cpu.append(meter.figures(f"open, {fraction:.0%} of capacity", before, run.requests))
        print(f"open loop: {run}", flush=True)
    return closed, open_loop, cpu


def run(args: argparse.Namespace, command: str) -> str:
    token = uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory(prefix="likeness-load-") as tmp:
        settings = bench_settings(Path(tmp) / "data", args.postgres, token)
        with Redis.from_url(settings.broker_url) as broker:
            broker_before = set(broker.keys("*"))
        create_database(settings.database_url)
        try:
            engine = make_engine(settings.database_url)
            upgrade_database(engine)
            engine.dispose()
            init_development_keys(settings)
            clip = write_clip(Path(tmp))
            if args.api_layout == "thread":
                server, mode = ThreadServer(settings), "uvicorn on a thread of the benchmark"
            else:
                server = ApiProcesses(settings, args.api_workers, args.api_layout)
                mode = (f"{args.api_workers} uvicorn processes, one port each, clients spread "
                        f"over them" if args.api_layout == "ports" else
                        f"one uvicorn --workers {args.api_workers}")
            with server as urls:
                api_key, assets = setup_subject(urls[0], settings, clip)
                # This process imported the service (torch included): a full GC pass here
                # would stall the clients' threads and the arrival timer for ~120 ms.
                gc.collect()
                gc.freeze()
                closed, open_loop, cpu = submit_phases(args, urls, server.pids, api_key, assets)
                print(f"cancelled {cancel_queued(settings)} queued jobs, purged "
                      f"{purge_queue(settings)} broker messages", flush=True)
                worker = None if args.no_worker else worker_phase(
                    urls[0], api_key, settings, assets, args.idle_jobs, args.backlog_jobs)
            env = machine() | versions(settings)
            return write_report(args.report, command, mode, env,
                                LoadFigures(closed, open_loop, cpu, worker))
        finally:
            drop_database(settings.database_url)
            clean_redis(settings, broker_before)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.service_load",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--baseline-requests", type=int, default=200,
                        help="submitted by one client first (0: skip)")
    parser.add_argument("--api-workers", type=int, default=2, help="API processes")
    parser.add_argument("--api-layout", choices=("ports", "uvicorn-workers", "thread"),
                        default="ports", help="separate single-process servers on their own "
                        "ports; uvicorn's own --workers on one port; or one on a thread")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help="SQLAlchemy URL of a database to create, use and drop")
    parser.add_argument("--open-loop-fractions", type=_fractions, default=[0.25, 0.5, 0.75],
                        help="offered rates for the open-loop runs, as fractions of the "
                        "closed-loop capacity just measured (comma-separated; '' skips them)")
    parser.add_argument("--open-loop-seconds", type=float, default=60.0,
                        help="length of each open-loop run")
    parser.add_argument("--seed", type=int, default=0, help="for the Poisson arrivals")
    parser.add_argument("--idle-jobs", type=int, default=5)
    parser.add_argument("--backlog-jobs", type=int, default=10)
    parser.add_argument("--no-worker", action="store_true", help="submit phase only")
    parser.add_argument("--report", type=Path, default=REPORT_DIR / "load",
                        help="writes STEM.md and STEM.json")
    parser.add_argument("--rewrite-report", action="store_true",
                        help="measure nothing: render STEM.md again from STEM.json")
    args = parser.parse_args()
    if args.rewrite_report:
        print(rewrite_report(args.report))
        return
    command = shlex.join([".venv/bin/python", "-m", "benchmarks.service_load", *sys.argv[1:]])
    print(run(args, command))


if __name__ == "__main__":
    main()
