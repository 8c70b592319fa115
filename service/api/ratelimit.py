"""Per-caller rate limits in Redis: at most ``limit`` requests in any ``window`` seconds.

Each bucket is a sliding log: a sorted set ``<prefix>rl:<bucket>`` of the admitted requests'
times. One Lua script (one round trip, atomic) drops the entries older than the window, admits
the request if fewer than ``limit`` remain and records it; a refused request is not recorded.
So the limit holds over *every* window, not only over aligned ones: a fixed-window counter,
used before, admitted up to twice the limit across a window boundary (the end of one minute and
the start of the next). Over the limit the caller gets 429 with ``Retry-After`` = seconds until
enough of its logged requests leave the window. Memory: at most ``limit`` entries per active
bucket, expiring with the window.

Buckets are ``key:<key id>`` for authenticated partners and staff ``user:<uuid>``, and
``ip:<address>`` (a lower limit) for callers without a valid credential, which also bounds
guessing at the token endpoint. If Redis cannot be reached the request is refused with 503
(fail closed): the limits are an abuse control.

The embedded default (``LIKENESS_REDIS_URL`` empty: one process, no servers) keeps the same
logs in process memory (``MemoryRateLimiter``); a deployment with several API processes needs
Redis so the limit is shared.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from service.errors import DependencyUnavailable, RateLimited

WINDOW_SECONDS = 60
UNAVAILABLE_RETRY_SECONDS = 5

# KEYS[1]: the bucket's log. ARGV: now (ms), window (ms), limit, a unique member.
# Returns {admitted (1/0), requests in the window counting this one if admitted,
#          ms until a place frees (0 when admitted)}.
_SLIDING_LOG = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window))
  return {1, count + 1, 0}
end
local freeing = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, count, math.ceil(tonumber(freeing[2]) + window - now)}
"""


@dataclass(frozen=True)
class RateDecision:
    limit: int
    remaining: int  # requests still admitted now, before any leaves the window


def _refuse(limit: int, window: int, retry_after: int) -> RateLimited:
    return RateLimited(f"rate limit of {limit} requests per {window} s exceeded; retry after "
                       f"{retry_after} s", limit=limit, window_seconds=window,
                       retry_after=retry_after)


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str, window_seconds: int = WINDOW_SECONDS) -> None:
        self.redis, self.prefix, self.window = redis, prefix, window_seconds
        self._script = redis.register_script(_SLIDING_LOG)

    def hit(self, bucket: str, limit: int, now: float | None = None) -> RateDecision:
        """Count one request in ``bucket``; ``RateLimited`` once it is over ``limit``."""
        now = time.time() if now is None else now
        now_ms, window_ms = now * 1000.0, self.window * 1000
        try:
            admitted, count, wait_ms = self._script(
                keys=[f"{self.prefix}rl:{bucket}"],
                args=[repr(now_ms), window_ms, limit, f"{now_ms!r}:{secrets.token_hex(6)}"])
        except RedisError as exc:
            raise DependencyUnavailable("the rate limiter (Redis) is unreachable; retry shortly",
                                        dependency="redis", retry_after=UNAVAILABLE_RETRY_SECONDS
                                        ) from exc
        if not admitted:
            raise _refuse(limit, self.window, max(1, math.ceil(int(wait_ms) / 1000)))
        return RateDecision(limit, limit - int(count))


class MemoryRateLimiter:
    """The same sliding logs, kept in this process (the embedded, single-process default)."""

    def __init__(self, window_seconds: int = WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self._logs: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, limit: int, now: float | None = None) -> RateDecision:
        now = time.time() if now is None else now
        with self._lock:
            if len(self._logs) > 10_000:  # forget idle buckets now and then
                self._logs = {b: log for b, log in self._logs.items()
                              if log and log[-1] > now - self.window}
            log = self._logs.setdefault(bucket, deque())
            while log and log[0] <= now - self.window:
                log.popleft()
            if len(log) >= limit:
                freeing = log[len(log) - limit]
                raise _refuse(limit, self.window,
                              max(1, math.ceil(freeing + self.window - now)))
            log.append(now)
            return RateDecision(limit, limit - len(log))
