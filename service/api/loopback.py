"""An API server on a loopback port in this process (quickstart, benchmarks, browser tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from service.errors import ServiceError


class ApiServerNotStarted(ServiceError):
    code = "api_server_not_started"


class LoopbackServer:
    """uvicorn serving ``app`` on a free loopback port, on a thread; ``with`` yields its base URL.
    For the quickstart, benchmarks and browser tests: real HTTP without a deployment."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="likeness-api", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise ApiServerNotStarted("the API server did not start within 30 s")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
