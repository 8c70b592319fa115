"""Sending queued webhook deliveries: at least once, signed, with backoff, through the guard.

``deliver_due(session_factory, now, client, config)`` is one pass; a Celery beat task or a
plain loop calls it every few seconds. A pass:

1. claims up to ``limit`` due rows in a short transaction (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so several workers share the queue; SQLite's write lock serialises) by pushing
   their ``next_attempt_at`` a claim period ahead - a worker that dies mid-send leaves the row
   to be retried after it, never lost;
2. sends each with no transaction open (a slow receiver holds no lock): ``WebhookClient``
   posts through the ``GuardedBackend`` (addresses checked at connect time), with a timeout
   per phase, and never follows redirects - a 3xx is a failure like any non-2xx;
3. records the outcome in another short transaction: 2xx -> delivered; otherwise the attempt
   counts and the next waits ``base * 2**(attempts-1)`` (capped) times a random factor in
   [0.5, 1) (jitter spreads a recovering receiver's load), until ``max_attempts`` -> failed.

The receiver may see a delivery twice (a crash between 2 and 3): ``webhook-id`` is stable
across attempts for it to deduplicate, as Standard Webhooks prescribes. ``webhook-timestamp``
is the wall clock at signing (what a receiver's replay window compares with), while ``now``
drives the schedule, so tests can move time without waiting.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import httpcore
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.db.engine import session_scope
from service.db.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from service.errors import KeysError, WebhookUrlRefused
from service.settings import Settings
from service.webhooks.secrets import SecretBox
from service.webhooks.signing import sign
from service.webhooks.ssrf import GuardedBackend, UrlGuard

log = logging.getLogger("likeness.webhooks")
USER_AGENT = "likeness-webhooks/1"
MAX_ERROR_CHARS = 500
_TRANSPORT_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                     httpcore.UnsupportedProtocol, OSError)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 30.0
    max_seconds: float = 6 * 3600.0

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1-based)."""
        ceiling = min(self.base_seconds * 2 ** (attempts - 1), self.max_seconds)
        return timedelta(seconds=ceiling * rng.uniform(0.5, 1.0))


@dataclass(frozen=True)
class DeliveryConfig:
    box: SecretBox
    retry: RetryPolicy
    claim_seconds: float = 120.0  # > the slowest attempt (timeouts x phases)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        return cls(SecretBox.from_settings(settings),
                   RetryPolicy(settings.webhook_max_attempts,
                               settings.webhook_backoff_base_seconds,
                               settings.webhook_backoff_max_seconds),
                   claim_seconds=max(120.0, settings.webhook_timeout_seconds * 6))


class WebhookClient:
    """POSTs a body to a webhook URL through the SSRF guard; returns the status code."""

    def __init__(self, guard: UrlGuard, timeout_seconds: float = 10.0) -> None:
        self.guard = guard
        self.timeout = {phase: timeout_seconds for phase in ("connect", "read", "write", "pool")}
        self._pool = httpcore.ConnectionPool(ssl_context=ssl.create_default_context(),
                                             network_backend=GuardedBackend(guard),
                                             max_connections=20, retries=0)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookClient:
        return cls(UrlGuard.from_settings(settings), settings.webhook_timeout_seconds)

    def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        self.guard.parse(url)  # scheme and userinfo again; addresses are checked on connect
        sent = [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()]
        with self._pool.stream("POST", url, headers=sent, content=body,
                               extensions={"timeout": self.timeout}) as response:
            return response.status  # the body is never read: a receiver cannot flood us

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one attempt (plain values: no session is open while sending)."""

    id: uuid.UUID
    url: str
    secret: str | None  # None: it did not decrypt (recorded as the attempt's error)
    body: str
    attempts: int


@dataclass(frozen=True)
class DeliveryRun:
    attempted: int
    delivered: int
    retrying: int
    failed: int


def deliver_due(session_factory: sessionmaker[Session], now: datetime, client: WebhookClient,
                config: DeliveryConfig, *, limit: int = 50,
                rng: random.Random | None = None) -> DeliveryRun:
    """Attempt every delivery due at ``now`` (up to ``limit``) once."""
    rng = rng or random.SystemRandom()
    claimed = _claim(session_factory, now, config, limit)
    counts = {status: 0 for status in DeliveryStatus}
    for delivery in claimed:
        status_code, error = _attempt(client, delivery)
        status = _record(session_factory, delivery, status_code, error, now, config, rng)
        counts[status] += 1
    return DeliveryRun(len(claimed), counts[DeliveryStatus.DELIVERED],
                       counts[DeliveryStatus.PENDING], counts[DeliveryStatus.FAILED])


def _claim(session_factory: sessionmaker[Session], now: datetime, config: DeliveryConfig,
           limit: int) -> list[Claimed]:
    with session_scope(session_factory) as session:
        rows = session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING,
                   WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at).limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)).all()
        claimed = []
        for delivery, endpoint in rows:
            if endpoint.deleted_at is not None:
                delivery.status, delivery.last_error = DeliveryStatus.FAILED, "endpoint deleted"
                continue
            delivery.next_attempt_at = now + timedelta(seconds=config.claim_seconds)
            claimed.append(Claimed(delivery.id, endpoint.url, _secret(config, endpoint),
                                   delivery.body, delivery.attempts))
        return claimed


def _secret(config: DeliveryConfig, endpoint: WebhookEndpoint) -> str | None:
    try:
        return config.box.open(endpoint.id, endpoint.secret_ciphertext)
    except KeysError as exc:
        log.error("webhook endpoint %s: %s", endpoint.id, exc.message)
        return None


def _attempt(client: WebhookClient, delivery: Claimed) -> tuple[int | None, str | None]:
    """(status code, error): one POST; nothing here raises for the receiver's faults."""
    if delivery.secret is None:
        return None, "the endpoint's secret cannot be decrypted (operator key changed?)"
    body = delivery.body.encode()
    headers = sign(delivery.secret, f"msg_{delivery.id.hex}", int(time.time()), body).as_dict()
    headers |= {"content-type": "application/json", "user-agent": USER_AGENT}
    try:
        status = client.post(delivery.url, headers, body)
    except WebhookUrlRefused as exc:
        return None, f"refused by the SSRF guard: {exc.message}"
    except _TRANSPORT_ERRORS as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def _record(session_factory: sessionmaker[Session], claimed: Claimed, status_code: int | None,
            error: str | None, now: datetime, config: DeliveryConfig,
            rng: random.Random) -> DeliveryStatus:
    with session_scope(session_factory) as session:
        delivery = session.get(WebhookDelivery, claimed.id, with_for_update=True)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return DeliveryStatus.FAILED if delivery is None else delivery.status
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.last_status_code = now, status_code
        delivery.last_error = None if error is None else error[:MAX_ERROR_CHARS]
        if error is None:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
        elif delivery.attempts >= config.retry.max_attempts:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = now + config.retry.delay(delivery.attempts, rng)
        log.info("webhook delivery %s attempt %d: %s", delivery.id, delivery.attempts,
                 error or f"HTTP {status_code}")
        return delivery.status
