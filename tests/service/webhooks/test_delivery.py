"""Queued job events delivered to a real receiver on 127.0.0.1, on PostgreSQL and SQLite:
signatures the receiver checks, retries with backoff, the attempts cap, no redirects, the
guard at connect time, deleted endpoints."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.db.models import DeliveryStatus
from service.settings import Settings
from service.webhooks import (
    JOB_FAILED,
    JOB_SUCCEEDED,
    DeliveryConfig,
    RetryPolicy,
    SecretBox,
    UrlGuard,
    WebhookClient,
    deliver_due,
    enqueue_job_event,
    verify_delivery,
)
from service.webhooks.endpoints import (
    create_endpoint,
    delete_endpoint,
    list_endpoints,
    send_test_event,
)
from tests.service.webhooks.conftest import SETUP, T0, Partner, delivery, make_partner
from tests.service.webhooks.receiver import Receiver, running_receiver

LOOPBACK = UrlGuard(allowed_networks=["127.0.0.1/32"])
BOX = SecretBox(bytes(range(32)))
RETRY = RetryPolicy(max_attempts=3, base_seconds=30, max_seconds=600)
CONFIG = DeliveryConfig(BOX, RETRY)


def register(sessions: sessionmaker[Session], partner: Partner, url: str,
             event_types: list[str] | None = None) -> str:
    with sessions() as session:
        created = create_endpoint(session, SETUP, owner=partner.owner, url=url,
                                  event_types=event_types or [JOB_SUCCEEDED, JOB_FAILED],
                                  description=None, created_by_key_id=None, guard=LOOPBACK,
                                  box=BOX)
        session.commit()
        return created.secret


def enqueue(sessions: sessionmaker[Session], partner: Partner, event: str = JOB_SUCCEEDED):
    with sessions() as session:
        rows = enqueue_job_event(session, partner.job, event, now=T0)
        session.commit()
        return [row.id for row in rows]


def check_signed(receiver: Receiver, secret: str) -> list[str]:
    """Every request verifies with the secret; returns their webhook-ids."""
    for request in receiver.received:
        verify_delivery(secret, request.headers, request.body)
        assert request.headers["content-type"] == "application/json"
    return [request.headers["webhook-id"] for request in receiver.received]


def test_500_then_200_retries_with_backoff_and_the_same_id(sessions) -> None:
    partner = make_partner(sessions)
    with running_receiver(500, 200) as receiver, WebhookClient(LOOPBACK, 5) as client:
        secret = register(sessions, partner, receiver.url)
        [delivery_id] = enqueue(sessions, partner)
        first = deliver_due(sessions, T0, client, CONFIG)
        assert (first.attempted, first.retrying) == (1, 1)
        row = delivery(sessions, delivery_id)
        assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.PENDING, 1,
                                                                     500)
        wait = row.next_attempt_at - T0
        assert timedelta(seconds=15) <= wait <= timedelta(seconds=30)  # base 30 s, jitter
        assert deliver_due(sessions, T0 + wait - timedelta(seconds=1), client,
                           CONFIG).attempted == 0  # not due yet
        second = deliver_due(sessions, row.next_attempt_at, client, CONFIG)
        assert (second.attempted, second.delivered) == (1, 1)
        assert deliver_due(sessions, T0 + timedelta(days=1), client, CONFIG).attempted == 0
    ids = check_signed(receiver, secret)
    assert ids == [f"msg_{delivery_id.hex}"] * 2  # the receiver's dedup key
    assert receiver.received[0].body == receiver.received[1].body
    assert json.loads(receiver.received[0].body) == {
        "type": "job.succeeded", "timestamp": T0.isoformat(),
        "data": {"job_id": str(partner.job.id)}}  # thin: the receiver fetches the job
    row = delivery(sessions, delivery_id)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.DELIVERED, 2, None)


def test_attempts_stop_at_the_cap_and_redirects_are_not_followed(sessions) -> None:
    partner = make_partner(sessions)
    with running_receiver(302, 503, 500) as receiver, WebhookClient(LOOPBACK, 5) as client:
        register(sessions, partner, receiver.url)
        [delivery_id] = enqueue(sessions, partner, JOB_FAILED)
        now = T0
        for _ in range(RETRY.max_attempts):
            assert deliver_due(sessions, now, client, CONFIG).attempted == 1
            now += timedelta(days=1)
        assert deliver_due(sessions, now, client, CONFIG).attempted == 0
    assert [r.path for r in receiver.received] == ["/hooks/likeness"] * 3  # never /elsewhere
    row = delivery(sessions, delivery_id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        DeliveryStatus.FAILED, 3, 500, "HTTP 500")


def test_backoff_doubles_up_to_its_cap() -> None:
    rng = random.Random(1)
    for attempts, ceiling in ((1, 30), (2, 60), (3, 120), (5, 480), (9, 600)):
        delay = RETRY.delay(attempts, rng).total_seconds()
        assert ceiling / 2 <= delay <= ceiling


def test_an_address_refused_at_delivery_time_is_never_contacted(sessions) -> None:
    """Registered while allowed; the deliverer's guard no longer allows it (as when a name
    re-resolves inward): the attempt fails without a connection."""
    partner = make_partner(sessions)
    with running_receiver() as receiver, WebhookClient(UrlGuard(), 5) as strict:
        register(sessions, partner, receiver.url)
        [delivery_id] = enqueue(sessions, partner)
        assert deliver_due(sessions, T0, strict, CONFIG).retrying == 1
    assert receiver.received == []
    row = delivery(sessions, delivery_id)
    assert row.last_status_code is None and "SSRF guard" in (row.last_error or "")


def test_events_go_to_matching_endpoints_only(sessions) -> None:
    partner, sandbox = make_partner(sessions), make_partner(sessions, is_test=True)
    with running_receiver() as receiver, WebhookClient(LOOPBACK, 5) as client:
        secret = register(sessions, partner, receiver.url, [JOB_SUCCEEDED])
        register(sessions, partner, receiver.url + "/failures", [JOB_FAILED])
        assert len(enqueue(sessions, partner)) == 1  # only the job.succeeded subscriber
        assert enqueue(sessions, sandbox) == []  # another organisation, test environment
        assert deliver_due(sessions, T0, client, CONFIG).delivered == 1
    check_signed(receiver, secret)
    assert [r.path for r in receiver.received] == ["/hooks/likeness"]


def test_deleting_an_endpoint_fails_its_pending_deliveries(sessions) -> None:
    partner = make_partner(sessions)
    with running_receiver() as receiver, WebhookClient(LOOPBACK, 5) as client:
        register(sessions, partner, receiver.url)
        with sessions() as session:
            endpoint_id = send_test_event(session, SETUP, owner=partner.owner,
                                          endpoint_id=_only_endpoint(session, partner)).endpoint_id
            session.commit()
        [queued] = enqueue(sessions, partner)
        with sessions() as session:
            delete_endpoint(session, SETUP, owner=partner.owner, endpoint_id=endpoint_id)
            session.commit()
        assert deliver_due(sessions, T0 + timedelta(hours=1), client, CONFIG).attempted == 0
    assert receiver.received == []
    assert delivery(sessions, queued).status == DeliveryStatus.FAILED


def test_a_secret_that_no_longer_decrypts_is_an_attempt_error(sessions, tmp_path: Path) -> None:
    partner = make_partner(sessions)
    other_box = SecretBox.from_settings(Settings(data_dir=tmp_path))  # created 0600 on use
    assert (tmp_path / "webhook-secret-key").stat().st_mode & 0o777 == 0o600
    with running_receiver() as receiver, WebhookClient(LOOPBACK, 5) as client:
        register(sessions, partner, receiver.url)
        [delivery_id] = enqueue(sessions, partner)
        deliver_due(sessions, T0, client, DeliveryConfig(other_box, RETRY))
    assert receiver.received == []
    assert "cannot be decrypted" in (delivery(sessions, delivery_id).last_error or "")


def _only_endpoint(session: Session, partner: Partner):
    [endpoint] = list_endpoints(session, partner.owner)
    return endpoint.id


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client never reads proxy settings; make sure a test machine's would not matter.
    monkeypatch.setenv("HTTP_PROXY", "http://203.0.113.1:3128")
