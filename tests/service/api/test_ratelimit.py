"""Rate limits: at most ``limit`` requests in any window, in Redis and in process memory alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from service.api.ratelimit import MemoryRateLimiter, RateLimiter
from service.errors import DependencyUnavailable, RateLimited
from tests.service.api.conftest import REDIS_URL


@pytest.fixture(params=["redis", "memory"])
def limiter(request: pytest.FixtureRequest, redis_prefix: str
            ) -> Iterator[RateLimiter | MemoryRateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter(window_seconds=60)
        return
    client = Redis.from_url(REDIS_URL)
    yield RateLimiter(client, redis_prefix, window_seconds=60)
    client.close()


def test_counts_per_bucket_then_refuses_until_the_oldest_request_leaves_the_window(limiter):
    assert limiter.hit("key:a", limit=2, now=120.0).remaining == 1
    assert limiter.hit("key:a", limit=2, now=130.0).remaining == 0
    assert limiter.hit("key:b", limit=2, now=130.0).remaining == 1  # buckets are separate
    with pytest.raises(RateLimited) as caught:
        limiter.hit("key:a", limit=2, now=150.0)
    assert caught.value.context["retry_after"] == 30  # the request of 120 leaves at 180
    assert caught.value.context["limit"] == 2
    assert limiter.hit("key:a", limit=2, now=181.0).remaining == 0  # 130 is still in


def test_a_window_boundary_admits_no_second_allowance(limiter):
    # A fixed per-minute counter would admit 2 more at 60.5: a new minute has begun.
    limiter.hit("key:a", limit=2, now=59.0)
    limiter.hit("key:a", limit=2, now=59.5)
    with pytest.raises(RateLimited) as caught:
        limiter.hit("key:a", limit=2, now=60.5)
    assert caught.value.context["retry_after"] == 59  # 59.0 + 60 - 60.5 = 58.5, rounded up


def test_refused_requests_are_not_counted(limiter):
    limiter.hit("key:a", limit=1, now=0.0)
    for second in range(1, 50):  # hammering while refused does not push the wait further
        with pytest.raises(RateLimited):
            limiter.hit("key:a", limit=1, now=float(second))
    assert limiter.hit("key:a", limit=1, now=60.0).remaining == 0


def test_a_lowered_limit_waits_for_enough_requests_to_leave(limiter):
    for second in range(4):
        limiter.hit("key:a", limit=4, now=float(second))
    with pytest.raises(RateLimited) as caught:  # 4 logged, 2 allowed: the third must leave
        limiter.hit("key:a", limit=2, now=10.0)
    assert caught.value.context["retry_after"] == 52  # 2.0 + 60 - 10


def test_an_unreachable_redis_refuses_with_503_semantics(redis_prefix: str):
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    with pytest.raises(DependencyUnavailable) as caught:
        RateLimiter(dead, redis_prefix).hit("key:a", limit=5)
    assert caught.value.context["retry_after"] > 0
