"""Per-caller rate limits in Redis: fixed one-minute windows.

Each request increments ``<prefix>rl:<bucket>:<window>`` (INCR, and EXPIRE on the window's
first hit, in one MULTI); over the limit the caller gets 429 with ``Retry-After`` = seconds to
the window's end. Buckets are ``key:<key id>`` for authenticated partners and staff
``user:<uuid>``, and ``ip:<address>`` (a lower limit) for callers without a valid credential,
which also bounds guessing at the token endpoint. A fixed window admits up to twice the limit
across a boundary; that is accepted for its one round trip per request. If Redis cannot be
reached the request is refused with 503 (fail closed): the limits are an abuse control.

The embedded default (``LIKENESS_REDIS_URL`` empty: one process, no servers) counts the same
windows in process memory (``MemoryRateLimiter``); a deployment with several API processes
needs Redis so the limit is shared.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from service.errors import DependencyUnavailable, RateLimited

WINDOW_SECONDS = 60
UNAVAILABLE_RETRY_SECONDS = 5


@dataclass(frozen=True)
class RateDecision:
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str, window_seconds: int = WINDOW_SECONDS) -> None:
        self.redis, self.prefix, self.window = redis, prefix, window_seconds

    def hit(self, bucket: str, limit: int, now: float | None = None) -> RateDecision:
        """Count one request in ``bucket``; ``RateLimited`` once it is over ``limit``."""
        now = time.time() if now is None else now
        window = int(now // self.window)
        key = f"{self.prefix}rl:{bucket}:{window}"
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.window + 1, nx=True)
                count = int(pipe.execute()[0])
        except RedisError as exc:
            raise DependencyUnavailable("the rate limiter (Redis) is unreachable; retry shortly",
                                        dependency="redis", retry_after=UNAVAILABLE_RETRY_SECONDS
                                        ) from exc
        retry_after = max(1, math.ceil((window + 1) * self.window - now))
        if count > limit:
            raise RateLimited(f"rate limit of {limit} requests per {self.window} s exceeded; "
                              f"retry after {retry_after} s", limit=limit,
                              window_seconds=self.window, retry_after=retry_after)
        return RateDecision(limit, limit - count, retry_after)


class MemoryRateLimiter:
    """The same fixed windows, counted in this process (the embedded, single-process default)."""

    def __init__(self, window_seconds: int = WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, limit: int, now: float | None = None) -> RateDecision:
        now = time.time() if now is None else now
        window = int(now // self.window)
        with self._lock:
            if len(self._counts) > 10_000:  # drop finished windows now and then
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            count = self._counts.get((bucket, window), 0) + 1
            self._counts[bucket, window] = count
        retry_after = max(1, math.ceil((window + 1) * self.window - now))
        if count > limit:
            raise RateLimited(f"rate limit of {limit} requests per {self.window} s exceeded; "
                              f"retry after {retry_after} s", limit=limit,
                              window_seconds=self.window, retry_after=retry_after)
        return RateDecision(limit, limit - count, retry_after)
