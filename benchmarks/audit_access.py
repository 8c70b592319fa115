"""Officers' access to the audit log on PostgreSQL: indexing, filtered queries and exports
(a benchmark, not a test: figures only).

    .venv/bin/python -m benchmarks.audit_access [--events 100000] [--postgres ADMIN_URL]

On a fresh database (created, migrated, dropped): ``--events`` events bulk-loaded through the
sequencer's own code path (``append_events`` under the head lock), spread over 50 partner
organisations, 5,000 jobs and 2,000 subjects named in their payloads, one in ten with a
personal field sealed under its subject's key; a signed checkpoint over all of them. Then:

1. ``index``: ``index_new_events`` building ``audit_event_refs`` for the whole log (events/s);
2. ``query``: one page (100 events, newest first, personal fields opened) for filters by
   organisation, subject, job, action prefix, outcome and a one-hour window: median and p95
   of 20 runs each, the first run excluded;
3. ``export``: the whole log as ``jsonl`` (with every inclusion proof), ``csv`` and ``ocsf``
   through ``export_chunks`` (pages in their own transactions): events/s and megabytes.

Writes ``reports/audit/access.md`` and ``access.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from policy.audit import AuditEvent, Outcome
from policy.audit.checkpoint import NoteSigner
from service.audit.checkpoints import make_checkpoint
from service.audit.export import ExportFormat, export_chunks, start_export
from service.audit.personal import AuditKeyring, seal_fields
from service.audit.query import AuditFilter, query_events
from service.audit.refs import index_new_events
from service.audit.sequencer import append_events, lock_head, write_head
from service.db import AuditContext, make_engine, make_session_factory
from service.db.migrate import upgrade_database

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REPORT = Path("reports/audit/access")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
ACTIONS = ("job:job:submit", "job:job:start", "job:job:succeed", "auth:api_key:use",
           "partner:asset:upload", "compliance:consent:approve", "public:artifact:verify")
KEYRING = AuditKeyring(os.urandom(32))
OFFICER = AuditContext(actor="user:bench-officer", keyring=KEYRING)


def _events(n: int, session: Any, rng: random.Random) -> list[AuditEvent]:
    orgs = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(50)]
    subjects = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(2000)]
    events = []
    for i in range(n):
        subject, job = rng.choice(subjects), uuid.UUID(int=rng.randrange(5000) + 1)
        payload: dict[str, Any] = {"organisation_id": str(rng.choice(orgs)),
                                   "subject_id": str(subject), "purpose": "dubbing", "n": i}
        if i % 10 == 0:
            payload |= seal_fields(session, OFFICER, f"subject:{subject}",
                                   {"display_name": f"Person {i}"})
        events.append(AuditEvent.of(
            actor=f"api_key:key{rng.randrange(200):05d}", action=rng.choice(ACTIONS),
            resource=f"job:{job}", outcome=Outcome.DENIED if i % 17 == 0 else Outcome.SUCCESS,
            occurred_at=T0 + timedelta(seconds=i * 2), request_id=f"req-{i}",
            client_address="198.51.100.7", payload=payload))
    return events


def _load(sessions: Any, n: int, batch: int = 5000) -> None:
    rng = random.Random(7)
    for start in range(0, n, batch):
        with sessions() as session, session.begin():
            head = lock_head(session)
            chained = append_events(session, head, _events(min(batch, n - start), session, rng))
            write_head(session, chained, head.frontier)


def _timed(step: Any) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def _query_figures(sessions: Any, probe: dict[str, Any]) -> dict[str, dict[str, float]]:
    filters = {
        "organisation": AuditFilter(organisation_id=uuid.UUID(probe["organisation_id"])),
        "subject": AuditFilter(subject_id=uuid.UUID(probe["subject_id"])),
        "job": AuditFilter(job_id=uuid.UUID(probe["job_id"])),
        "action prefix job:job:": AuditFilter(action="job:job:"),
        "outcome denied": AuditFilter(outcome=Outcome.DENIED),
        "one hour": AuditFilter(since=T0 + timedelta(hours=20), until=T0 + timedelta(hours=21)),
    }
    figures = {}
    for name, flt in filters.items():
        runs = []
        for _ in range(21):
            with sessions() as session, session.begin():
                runs.append(_timed(lambda s=session, f=flt: query_events(s, f, limit=100,
                                                                         keyring=KEYRING)))
        runs = sorted(runs[1:])
        figures[name] = {"median_ms": round(statistics.median(runs) * 1000, 2),
                         "p95_ms": round(runs[int(0.95 * len(runs)) - 1] * 1000, 2)}
    return figures


def _export_figures(sessions: Any, signer: NoteSigner, n: int) -> dict[str, dict[str, float]]:
    figures = {}
    for fmt in ExportFormat:
        with sessions() as session, session.begin():
            plan = start_export(session, OFFICER, fmt, AuditFilter(), verifier=signer.verifier)
        size = 0
        started = time.perf_counter()
        for chunk in export_chunks(sessions, plan, KEYRING):
            size += len(chunk.encode())
        seconds = time.perf_counter() - started
        figures[fmt.value] = {"seconds": round(seconds, 2), "events_per_s": round(n / seconds),
                              "mb": round(size / 1e6, 1)}
    return figures


def run(admin_url: str, n: int) -> dict[str, Any]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"likeness_bench_access_{os.getpid()}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(admin_url).set(database=name).render_as_string(
        hide_password=False))
    try:
        upgrade_database(engine)
        sessions = make_session_factory(engine)
        load_s = _timed(lambda: _load(sessions, n))
        signer = NoteSigner.generate("bench.local/audit")
        with sessions() as session, session.begin():
            make_checkpoint(session, signer, datetime.now(UTC),
                            directory=Path(f"/tmp/{name}-checkpoints"))
        with sessions() as session, session.begin():
            index_s = _timed(lambda: index_new_events(session))
        with sessions() as session:
            probe = query_events(session, AuditFilter(), limit=1).records[0].stored_payload
            probe["job_id"] = str(query_events(session, AuditFilter(), limit=1)
                                  .records[0].refs.job_id)
        return {"events": n, "load_s": round(load_s, 1),
                "index": {"seconds": round(index_s, 2), "events_per_s": round(n / index_s)},
                "query": _query_figures(sessions, probe),
                "export": _export_figures(sessions, signer, n),
                "load_average": os.getloadavg()[0]}
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _markdown(figures: dict[str, Any], command: str) -> str:
    lines = [f"# Officers' audit access on PostgreSQL ({datetime.now(UTC).date()})", "",
             f"Command: `{command}`", "",
             f"Machine: {os.cpu_count()} CPU cores, {platform.platform()}; shared (1-minute "
             f"load average {figures['load_average']:.1f} at the end). What is measured: "
             "`benchmarks/audit_access.py`'s docstring.", "",
             f"{figures['events']} events loaded in {figures['load_s']} s; the refs index "
             f"built in {figures['index']['seconds']} s "
             f"({figures['index']['events_per_s']} events/s).", "",
             "## One page of 100 events, newest first", "",
             "| filter | median ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {name} | {f['median_ms']} | {f['p95_ms']} |"
              for name, f in figures["query"].items()]
    lines += ["", "## Whole-log exports", "", "| format | seconds | events/s | MB |",
              "|---|---|---|---|"]
    lines += [f"| {fmt} | {f['seconds']} | {f['events_per_s']} | {f['mb']} |"
              for fmt, f in figures["export"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--postgres", default=DEFAULT_ADMIN)
    args = parser.parse_args()
    figures = run(args.postgres, args.events)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    command = f"python -m benchmarks.audit_access --events {args.events}"
    REPORT.with_suffix(".md").write_text(_markdown(figures, command))
    print(_markdown(figures, command))


if __name__ == "__main__":
    main()
