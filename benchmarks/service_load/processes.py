"""The API and the job worker as real subprocesses (or the API on a thread of this one)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Self

import httpx

from benchmarks.service_load.environment import ROOT, settings_env
from service.api.loopback import LoopbackServer
from service.settings import Settings


class ApiProcesses:
    """The API under uvicorn in subprocesses; entered, the list of their base URLs.

    ``layout="ports"``: ``count`` single-process servers, one port each, the clients spread
    over them (a load balancer's job in deployment). ``layout="uvicorn-workers"``: one
    ``uvicorn --workers count`` on one port. The latter binds its socket itself with
    ``proto=0``, so asyncio never sets TCP_NODELAY on its connections (see the report).
    """

    def __init__(self, settings: Settings, count: int, layout: str) -> None:
        base = [sys.executable, "-m", "uvicorn", "--factory",
                "service.api.app:app_from_environment", "--host", "127.0.0.1",
                "--log-level", "warning", "--no-access-log"]
        ports = [_free_port() for _ in range(count if layout == "ports" else 1)]
        workers = "1" if layout == "ports" else str(count)
        self.commands = [[*base, "--port", str(port), "--workers", workers] for port in ports]
        self.urls = [f"http://127.0.0.1:{port}" for port in ports]
        self.env = settings_env(settings)
        self.processes: list[subprocess.Popen] = []

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def __enter__(self) -> list[str]:
        self.processes = [subprocess.Popen(command, env=self.env, cwd=ROOT)
                          for command in self.commands]
        for url, process in zip(self.urls, self.processes, strict=True):
            _wait_healthy(url, process)
        return self.urls

    def __exit__(self, *_exc: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API at {url} did not start")


class ThreadServer:
    """``LoopbackServer`` (uvicorn on a thread of this process), yielding a URL list."""

    def __init__(self, settings: Settings) -> None:
        from service.api.app import create_app

        self.server = LoopbackServer(create_app(settings))
        self.pids: list[int] = []  # the API runs in this process (CPU counted as benchmark)

    def __enter__(self) -> list[str]:
        return [self.server.__enter__()]

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


class WorkerProcess:
    """``python -m service.jobs.worker`` (solo pool, CPU); ready once Celery says so."""

    def __init__(self, settings: Settings) -> None:
        self.command = [sys.executable, "-m", "service.jobs.worker", "--loglevel", "INFO",
                        "--hostname", "bench@%h"]
        self.env = settings_env(settings)
        self.ready = threading.Event()
        self.process: subprocess.Popen | None = None

    def _watch(self) -> None:
        for line in self.process.stderr:
            if " ready." in line:
                self.ready.set()

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, text=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._watch, daemon=True).start()
        if not self.ready.wait(180):
            self.process.kill()
            raise RuntimeError("the worker did not become ready")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()  # SIGTERM: Celery's warm shutdown
        self.process.wait(timeout=60)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
