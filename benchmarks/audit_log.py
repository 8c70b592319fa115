"""The audit log on PostgreSQL: appends/s with concurrent writers, full verification of a long
log, and proof generation from the database (a benchmark, not a test: figures only).

    .venv/bin/python -m benchmarks.audit_log [--writers 8] [--seconds 15] \
        [--events 100000 --events 1000000] [--phases appends,verify,proofs] [--postgres URL]

Real pieces only, each phase on a fresh database (created, migrated with alembic, dropped):

1. ``appends``: ``--writers`` OS processes each call ``record`` in a transaction of its own per
   event (what a request does) for ``--seconds``, while one sequencer process loops
   ``sequence_pending(wait=False)`` as the API thread and the workers' loop do. Appends/s =
   events committed / the writers' wall time. Then the sequencer's lag (writers done -> inbox
   empty), forks (two events naming one predecessor), gaps, and a full verification.
2. ``verify``: for each ``--events`` count, a log bulk-loaded through the sequencer's own code
   path (``append_events`` + ``write_head`` under the head lock, ``--load-batch`` events per
   transaction) with a signed, exported checkpoint every tenth of the log; then
   ``verify_audit_log`` (chain, every tree node, every checkpoint, consistency proofs) in a
   fresh process: wall time and that process's peak memory.
3. ``proofs``: on the largest verified log, ``prove_event`` (inclusion against the latest
   checkpoint, read from the stored nodes and checked) for ``--proofs`` random events and
   ``prove_consistency`` between every pair of checkpoints: median and p95.

Writes ``reports/audit/log.md`` and ``log.json`` (``--report STEM``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import sys
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from policy.audit import AuditEvent, Outcome
from policy.audit.checkpoint import NoteSigner
from service.audit.checkpoints import make_checkpoint
from service.audit.proofs import prove_consistency, prove_event
from service.audit.sequencer import append_events, lock_head, sequence_pending, write_head
from service.audit.verify import verify_audit_log
from service.db import AuditContext, make_engine, make_session_factory, record
from service.db.migrate import upgrade_database

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ORIGIN = "bench.local/audit"
REPORT = Path("reports/audit/log")
ACTIONS = ("job:job:submit", "job:job:start", "job:job:succeed", "auth:api_key:use",
           "partner:asset:upload", "compliance:consent:approve", "public:artifact:verify")


class Database:
    """A fresh PostgreSQL database, dropped on exit."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"{name}_{os.getpid()}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = make_url(admin_url).set(database=self.name).render_as_string(
            hide_password=False)
        self.engine = make_engine(self.url)
        upgrade_database(self.engine)

    def size_mb(self) -> float:
        with self.engine.connect() as connection:
            size = connection.execute(text("SELECT pg_database_size(current_database())"))
            return size.scalar_one() / 2**20

    def drop(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


def realistic_event(i: int, start: datetime) -> AuditEvent:
    """An event shaped like the service's: ids, a request id, an address, a small payload."""
    return AuditEvent.of(
        actor=f"api_key:k{i % 97:05d}", action=ACTIONS[i % len(ACTIONS)],
        resource=f"job:{uuid.UUID(int=i * 2654435761 % 2**128)}",
        occurred_at=start + timedelta(milliseconds=i), request_id=f"req-{i:012d}",
        client_address=f"203.0.113.{i % 250}",
        outcome=Outcome.DENIED if i % 50 == 0 else Outcome.SUCCESS,
        payload={"purpose": "dubbing", "subject_id": str(uuid.UUID(int=i * 7 + 1)),
                 "consent_id": str(uuid.UUID(int=i * 11 + 3)), "steps": 8, "attempt": 1})


# -- 1. appends -----------------------------------------------------------------------------------


def _writer(url: str, writer: int, start: Any, seconds: float, results: Any) -> None:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    context = AuditContext(actor=f"system:bench:{writer}", request_id="req-bench",
                           client_address="203.0.113.1")
    start.wait(120)
    began, written = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        with sessions.begin() as session:  # one transaction per event, like a request
            record(session, context, "bench:event:append", f"thing:{writer}:{written}",
                   payload={"writer": writer, "n": written})
        written += 1
    results.put((writer, written, time.perf_counter() - began))
    engine.dispose()


def _sequencer(url: str, start: Any, stop: Any, results: Any) -> None:
    engine = make_engine(url)
    start.wait(120)
    chained = 0
    while not stop.is_set():
        done = sequence_pending(engine, batch=1000, wait=False)
        chained += done
        if not done:
            time.sleep(0.01)  # an idle inbox: do not spin
    results.put(("sequencer", chained, 0.0))
    engine.dispose()


@dataclass(frozen=True)
class AppendFigures:
    writers: int
    seconds: float
    events: int
    appends_per_second: float
    sequencer_lag_seconds: float  # writers done -> inbox empty
    forks: int
    gaps: int
    verified: bool
    load_average: float  # of the shared machine when the run started (1 min)


def bench_appends(admin_url: str, writers: int, seconds: float) -> AppendFigures:
    load = round(os.getloadavg()[0], 1)
    database = Database(admin_url, "likeness_bench_audit_appends")
    try:
        spawn = multiprocessing.get_context("spawn")
        start, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
        sequencer = spawn.Process(target=_sequencer, args=(database.url, start, stop, results))
        processes = [spawn.Process(target=_writer,
                                   args=(database.url, w, start, seconds, results))
                     for w in range(writers)]
        for process in (sequencer, *processes):
            process.start()
        time.sleep(3)  # every process imported and connected
        start.set()
        for process in processes:
            process.join()
        writers_done = time.perf_counter()
        counts = [results.get() for _ in processes]
        lag = _wait_for_empty_inbox(database)
        lag_seconds = time.perf_counter() - writers_done if lag else float("nan")
        stop.set()
        sequencer.join()
        total = sum(n for _, n, _ in counts)
        wall = max(t for _, _, t in counts)
        forks, gaps, ok = _check_log(database)
        return AppendFigures(writers=writers, seconds=round(wall, 2), events=total,
                             appends_per_second=round(total / wall, 1),
                             sequencer_lag_seconds=round(lag_seconds, 2), forks=forks,
                             gaps=gaps, verified=ok, load_average=load)
    finally:
        database.drop()


def _wait_for_empty_inbox(database: Database) -> bool:
    deadline = time.perf_counter() + 300
    with database.engine.connect() as connection:
        while time.perf_counter() < deadline:
            if connection.execute(text("SELECT count(*) FROM audit_pending")).scalar_one() == 0:
                return True
            connection.commit()
            time.sleep(0.02)
    return False


def _check_log(database: Database) -> tuple[int, int, bool]:
    with database.engine.connect() as connection:
        forks = connection.execute(text(
            "SELECT count(*) - count(DISTINCT prev_hash) FROM audit_events")).scalar_one()
        gaps = connection.execute(text(
            "SELECT max(seq) - count(*) FROM audit_events")).scalar_one()
    with make_session_factory(database.engine)() as session:
        report = verify_audit_log(session, NoteSigner.generate(ORIGIN).verifier, None)
    return forks, gaps, report.ok


# -- 2. verification of a long log ----------------------------------------------------------------


@dataclass(frozen=True)
class VerifyFigures:
    events: int
    load_seconds: float
    load_events_per_second: float
    database_mb: float
    checkpoints: int
    verify_seconds: float
    verify_events_per_second: float
    verify_peak_rss_mb: float
    ok: bool
    load_average: float  # when verification started (1 min)


def bulk_load(database: Database, events: int, batch: int, signer: NoteSigner,
              directory: Path) -> int:
    """Load ``events`` through the sequencer's code path; checkpoint every tenth."""
    sessions = make_session_factory(database.engine)
    start, every, checkpoints = datetime(2026, 1, 1, tzinfo=UTC), max(events // 10, 1), 0
    batch = min(batch, every)  # no batch straddles a checkpoint
    for first in range(0, events, batch):
        chunk = [realistic_event(i, start) for i in range(first, min(events, first + batch))]
        with sessions.begin() as session:
            head = lock_head(session)
            assert head is not None
            write_head(session, append_events(session, head, chunk), head.frontier)
        done = first + len(chunk)
        if done % every == 0 or done == events:
            with sessions.begin() as session:
                make_checkpoint(session, signer, start + timedelta(milliseconds=done),
                                directory=directory)
            checkpoints += 1
    return checkpoints


def _verify_in_child(url: str, vkey_text: str, directory: str, results: Any) -> None:
    from policy.audit.checkpoint import NoteVerifier

    engine = make_engine(url)
    began = time.perf_counter()
    with make_session_factory(engine)() as session:
        report = verify_audit_log(session, NoteVerifier.from_vkey(vkey_text), Path(directory))
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    results.put((seconds, report.ok, report.events, peak))
    engine.dispose()


def bench_verify(admin_url: str, events: int, batch: int, keep: bool
                 ) -> tuple[VerifyFigures, Database | None, Path, NoteSigner]:
    database = Database(admin_url, f"likeness_bench_audit_{events}")
    signer = NoteSigner.generate(ORIGIN)
    directory = Path(tempfile.mkdtemp(prefix="likeness-bench-checkpoints-"))
    began = time.perf_counter()
    checkpoints = bulk_load(database, events, batch, signer, directory)
    load_seconds = time.perf_counter() - began
    load = round(os.getloadavg()[0], 1)
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    child = spawn.Process(target=_verify_in_child,
                          args=(database.url, signer.verifier_key, str(directory), results))
    child.start()
    seconds, ok, verified, peak = results.get()
    child.join()
    figures = VerifyFigures(
        events=events, load_seconds=round(load_seconds, 1),
        load_events_per_second=round(events / load_seconds), database_mb=round(
            database.size_mb()), checkpoints=checkpoints, verify_seconds=round(seconds, 1),
        verify_events_per_second=round(verified / seconds), verify_peak_rss_mb=round(peak),
        ok=ok and verified == events, load_average=load)
    if not keep:
        database.drop()
        return figures, None, directory, signer
    return figures, database, directory, signer


# -- 3. proofs from the database ------------------------------------------------------------------


@dataclass(frozen=True)
class ProofFigures:
    events: int
    inclusion_proofs: int
    inclusion_median_ms: float
    inclusion_p95_ms: float
    consistency_proofs: int
    consistency_median_ms: float
    consistency_p95_ms: float


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return round(statistics.median(ordered) * 1000, 2), round(p95 * 1000, 2)


def bench_proofs(database: Database, signer: NoteSigner, events: int,
                 count: int) -> ProofFigures:
    rng = random.Random(7)
    inclusion, consistency = [], []
    with make_session_factory(database.engine)() as session:
        sizes = [row[0] for row in session.execute(
            text("SELECT tree_size FROM audit_checkpoints ORDER BY tree_size"))]
        for seq in (rng.randint(1, events) for _ in range(count)):
            began = time.perf_counter()
            prove_event(session, signer.verifier, seq)  # read, built and checked
            inclusion.append(time.perf_counter() - began)
        for index, old in enumerate(sizes):
            for new in sizes[index + 1:]:
                began = time.perf_counter()
                prove_consistency(session, signer.verifier, old, new)
                consistency.append(time.perf_counter() - began)
    inclusion_median, inclusion_p95 = _percentiles(inclusion)
    consistency_median, consistency_p95 = _percentiles(consistency or [0.0])
    return ProofFigures(events=events, inclusion_proofs=len(inclusion),
                        inclusion_median_ms=inclusion_median, inclusion_p95_ms=inclusion_p95,
                        consistency_proofs=len(consistency),
                        consistency_median_ms=consistency_median,
                        consistency_p95_ms=consistency_p95)


# -- report ---------------------------------------------------------------------------------------


def write_report(stem: Path, figures: dict[str, Any]) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    lines = [f"# Audit log on PostgreSQL ({figures['date']})", "",
             "Commands (`.venv/bin/`):", "", *(f"    {c}" for c in figures["commands"]), "",
             f"Machine: {figures['machine']}; {figures['postgres']} (fsync and "
             "synchronous_commit on). The machine is shared: other work ran beside the "
             "benchmark; each row gives the 1-minute load average when it started (2 = both "
             "cores busy before the benchmark's own processes).", "",
             "Goals (issue 6): >= 1,000 appends/s with 8 concurrent writers and zero forks; "
             "full verification of 1,000,000 events in <= 60 s.", "",
             "What is measured is described in `benchmarks/audit_log.py`'s docstring: each "
             "append is `record()` in a transaction of its own (a request's shape) while a "
             "sequencer process chains the inbox; verification recomputes every chain link, "
             "every leaf and stored tree node, every checkpoint root and signature and the "
             "consistency proofs between checkpoints.", ""]
    if figures.get("appends"):
        lines += ["## Appends with concurrent writers", "",
                  "| writers | events | seconds | appends/s | sequencer lag s | forks | gaps | "
                  "verifies | machine load |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {a['writers']} | {a['events']} | {a['seconds']} | "
                  f"{a['appends_per_second']} | {a['sequencer_lag_seconds']} | {a['forks']} | "
                  f"{a['gaps']} | {a['verified']} | {a.get('load_average', '?')} |"
                  for a in figures["appends"]]
        lines.append("")
    if figures.get("verify"):
        lines += ["## Full verification", "",
                  "| events | load s | load events/s | DB MB | checkpoints | verify s | "
                  "verify events/s | verifier peak RSS MB | ok | machine load |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {v['events']} | {v['load_seconds']} | {v['load_events_per_second']} | "
                  f"{v['database_mb']} | {v['checkpoints']} | {v['verify_seconds']} | "
                  f"{v['verify_events_per_second']} | {v['verify_peak_rss_mb']} | {v['ok']} | "
                  f"{v.get('load_average', '?')} |" for v in figures["verify"]]
        lines.append("")
    if figures.get("proofs"):
        p = figures["proofs"]
        lines += ["## Proofs from the database", "",
                  f"On the {p['events']}-event log: {p['inclusion_proofs']} inclusion proofs "
                  f"against the latest checkpoint, median {p['inclusion_median_ms']} ms, p95 "
                  f"{p['inclusion_p95_ms']} ms; {p['consistency_proofs']} consistency proofs "
                  f"between checkpoints, median {p['consistency_median_ms']} ms, p95 "
                  f"{p['consistency_p95_ms']} ms (each read in one query, built and verified).",
                  ""]
    lines += _reading(figures)
    stem.with_suffix(".md").write_text("\n".join(lines))


def _reading(figures: dict[str, Any]) -> list[str]:
    """What the tables say, computed from them."""
    notes = ["## Reading the figures", ""]
    runs = figures.get("appends", [])
    if runs:
        best = max(runs, key=lambda a: a["appends_per_second"])
        notes.append(
            f"- Appends: {len(runs)} runs, {min(a['appends_per_second'] for a in runs)} to "
            f"{best['appends_per_second']} appends/s (best at load {best['load_average']}); "
            f"forks in every run: {sum(a['forks'] for a in runs)}, gaps: "
            f"{sum(a['gaps'] for a in runs)}. The writers never wait on each other (an inbox "
            "insert each); a run is bound by the two cores it shares with the other load and "
            "by each commit's WAL flush, and the sequencer keeps up (its lag is the time to "
            "chain the last batch).")
    checks = figures.get("verify", [])
    if len(checks) > 1:
        notes.append(
            f"- Verification streams: the verifier's peak memory is "
            f"{checks[0]['verify_peak_rss_mb']} MB at {checks[0]['events']} events and "
            f"{checks[-1]['verify_peak_rss_mb']} MB at {checks[-1]['events']}. Its pages are "
            "read one ahead on a second thread while the current one is checked.")
    return [*notes, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("LIKENESS_TEST_POSTGRES_URL",
                                                             DEFAULT_ADMIN))
    parser.add_argument("--phases", default="appends,verify,proofs")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--events", type=int, action="append")
    parser.add_argument("--load-batch", type=int, default=10_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--merge", action="store_true",
                        help="keep the report's earlier figures: append these appends runs, "
                             "replace the other phases only if run")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    sizes = sorted(args.events or [100_000])
    with create_engine(args.postgres).connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar_one()
    previous = args.report.with_suffix(".json")
    figures: dict[str, Any] = json.loads(previous.read_text()) \
        if args.merge and previous.is_file() else {"commands": []}
    figures.update(date=datetime.now(UTC).strftime("%Y-%m-%d"),
                   machine=f"{os.cpu_count()} CPU cores, {platform.platform()}",
                   postgres=f"PostgreSQL {version}")
    if "appends" in phases:
        appends = bench_appends(args.postgres, args.writers, args.seconds)
        print("appends:", appends, flush=True)
        figures["appends"] = [*figures.get("appends", []), asdict(appends)]
    verified, kept = [], None
    if "verify" in phases or "proofs" in phases:
        for events in sizes:
            keep = "proofs" in phases and events == sizes[-1]
            result, database, _, signer = bench_verify(args.postgres, events, args.load_batch,
                                                       keep)
            print("verify:", result, flush=True)
            verified.append(asdict(result))
            if database is not None:
                kept = (database, signer, events)
        figures["verify"] = verified
    if kept is not None:
        database, signer, events = kept
        try:
            proofs = bench_proofs(database, signer, events, args.proofs)
            print("proofs:", proofs, flush=True)
            figures["proofs"] = asdict(proofs)
        finally:
            database.drop()
    figures["commands"].append("python -m benchmarks.audit_log " + " ".join(sys.argv[1:]))
    write_report(args.report, figures)
    print(f"wrote {args.report.with_suffix('.md')}")


if __name__ == "__main__":
    main()
