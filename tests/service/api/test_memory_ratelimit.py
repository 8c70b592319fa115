"""The embedded default's in-process rate limiter keeps the same fixed windows as Redis's."""

from __future__ import annotations

import pytest

from service.api.ratelimit import MemoryRateLimiter
from service.errors import RateLimited


def test_counts_per_bucket_and_window_then_refuses_with_retry_after():
    limiter = MemoryRateLimiter(window_seconds=60)
    assert limiter.hit("key:a", limit=2, now=120.0).remaining == 1
    assert limiter.hit("key:a", limit=2, now=130.0).remaining == 0
    assert limiter.hit("key:b", limit=2, now=130.0).remaining == 1  # buckets are separate
    with pytest.raises(RateLimited) as caught:
        limiter.hit("key:a", limit=2, now=150.0)
    assert caught.value.context["retry_after"] == 30
    assert limiter.hit("key:a", limit=2, now=181.0).remaining == 1  # a new window
