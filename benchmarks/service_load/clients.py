"""The submit clients: a closed loop (capacity) and an open loop (latency below saturation).

One keep-alive httpx connection per client thread, each POST /v1/jobs with a unique
Idempotency-Key; latency is client-side.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import httpx
import numpy as np

from benchmarks.service_load.figures import OpenLoopFigures, SubmitFigures
from benchmarks.service_load.fixtures import Assets


def submit_phase(urls: list[str], api_key: str, assets: Assets, clients: int,
                 requests: int) -> SubmitFigures:
    body, lock = assets.body(), threading.Lock()
    remaining, samples = [requests], []
    start = threading.Barrier(clients + 1)

    def client(base_url: str) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base_url, timeout=60, limits=limits,
                          headers={"X-Api-Key": api_key}) as http:
            http.get("/healthz")  # open the keep-alive connection before the clock starts
            start.wait()
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                began = time.perf_counter()
                try:
                    status = str(http.post("/v1/jobs", json=body, headers={
                        "Idempotency-Key": str(uuid.uuid4())}).status_code)
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                with lock:
                    samples.append((time.perf_counter() - began, status))

    threads = [threading.Thread(target=client, args=(urls[index % len(urls)],), daemon=True)
               for index in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    latency = np.array([sample[0] for sample in samples]) * 1000
    return SubmitFigures(clients, len(samples), round(seconds, 2),
                         round(len(samples) / seconds, 1),
                         *(round(float(np.percentile(latency, q)), 1) for q in (50, 90, 99)),
                         round(float(latency.max()), 1), round(float(latency.mean()), 1),
                         dict(Counter(sample[1] for sample in samples)))


def open_loop_phase(urls: list[str], api_key: str, assets: Assets, clients: int, rate: float,
                    seconds: float, fraction: float, seed: int) -> OpenLoopFigures:
    """``rate`` arrivals per second (exponential gaps, seeded) for ``seconds``, each taken by
    the next free client thread. Latency is measured from the scheduled arrival, so time spent
    waiting for a free client or for a late timer counts (no coordinated omission)."""
    body, lock = assets.body(), threading.Lock()
    count = max(1, round(rate * seconds))
    arrivals = np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, count))
    taken, samples = [0], []
    start, origin = threading.Barrier(clients + 1), [0.0]

    def client(base_url: str) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base_url, timeout=60, limits=limits,
                          headers={"X-Api-Key": api_key}) as http:
            http.get("/healthz")
            start.wait()
            while True:
                with lock:
                    if taken[0] == count:
                        return
                    due = origin[0] + arrivals[taken[0]]
                    taken[0] += 1
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                sent = time.perf_counter()
                try:
                    status = str(http.post("/v1/jobs", json=body, headers={
                        "Idempotency-Key": str(uuid.uuid4())}).status_code)
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                done = time.perf_counter()
                with lock:
                    samples.append((done - due, sent - due, status, done))

    threads = [threading.Thread(target=client, args=(urls[index % len(urls)],), daemon=True)
               for index in range(clients)]
    for thread in threads:
        thread.start()
    origin[0] = time.perf_counter() + 0.1  # written before the barrier releases the clients
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = max(sample[3] for sample in samples) - origin[0]
    latency = np.array([sample[0] for sample in samples]) * 1000
    lag = np.array([sample[1] for sample in samples]) * 1000
    return OpenLoopFigures(
        fraction, round(rate, 1), clients, len(samples), round(elapsed, 2),
        round(len(samples) / elapsed, 1),
        *(round(float(np.percentile(latency, q)), 1) for q in (50, 90, 99)),
        round(float(latency.max()), 1), round(float(latency.mean()), 1),
        round(float(np.percentile(lag, 50)), 1), round(float(np.percentile(lag, 99)), 1),
        dict(Counter(sample[2] for sample in samples)))
