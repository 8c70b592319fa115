"""CPU accounting per phase, by owner, read from /proc."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from benchmarks.service_load.figures import CpuFigures


class CpuMeter:
    """CPU time of this box by owner, from /proc: the API processes, PostgreSQL (all its
    processes, whichever database), Redis, this benchmark process (the client threads, and
    the API too with ``--api-layout thread``) and everything else; plus the hypervisor's
    steal. Read at the start and end of a phase."""

    def __init__(self, api_pids: list[int]) -> None:
        self.api_pids = set(api_pids)
        self.tick = os.sysconf("SC_CLK_TCK")

    def _process_seconds(self, pid: str) -> tuple[str, int, float] | None:
        """(name, parent pid, CPU seconds) of a process, None if it is gone. The seconds
        include its children that exited and were reaped (cutime, cstime): a PostgreSQL
        backend that ends mid-phase (a connection closed) moves its time to the postmaster
        rather than out of the postgres column into "other"."""
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        name, fields = raw[raw.index("(") + 1:raw.rindex(")")], raw.rsplit(")", 1)[1].split()
        return name, int(fields[1]), sum(int(fields[i]) for i in (11, 12, 13, 14)) / self.tick

    def snapshot(self) -> tuple[float, dict[str, float]]:
        groups: Counter[str] = Counter()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            found = self._process_seconds(pid)
            if found is None:
                continue
            name, parent, seconds = found
            if int(pid) in self.api_pids or parent in self.api_pids:  # uvicorn --workers
                groups["api"] += seconds
            elif int(pid) == os.getpid():
                groups["benchmark"] += seconds
            elif name == "postgres":
                groups["postgres"] += seconds
            elif name == "redis-server":
                groups["redis"] += seconds
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) / self.tick  # user..softirq
        groups["other"] = busy - sum(groups.values())
        groups["steal"] = cpu[7] / self.tick if len(cpu) > 7 else 0.0
        return time.perf_counter(), dict(groups)

    def figures(self, phase: str, before: tuple[float, dict[str, float]], requests: int
                ) -> CpuFigures:
        after = self.snapshot()
        seconds = after[0] - before[0]
        cores = {name: round(max(0.0, after[1][name] - before[1].get(name, 0.0)) / seconds, 2)
                 for name in after[1]}
        api = after[1].get("api", 0.0) - before[1].get("api", 0.0)
        per_request = round(api / requests * 1000, 2) if self.api_pids and requests else None
        return CpuFigures(phase, round(seconds, 2), requests, cores, per_request)
