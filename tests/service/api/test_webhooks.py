"""``/v1/webhooks``: a partner registers a receiver (a real server on 127.0.0.1, allowed by the
operator's setting), gets its secret once, queues a test event that the delivery pass signs
and sends; other partners and environments see nothing; unsafe URLs are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db import make_session_factory, utcnow
from service.db.models import AuditEventRow
from service.webhooks import DeliveryConfig, WebhookClient, deliver_due, verify_delivery
from tests.service.api.conftest import World, build_world, error_code, make_settings
from tests.service.webhooks.receiver import running_receiver


@pytest.fixture
def loopback_world(pg_engine: Engine, tmp_path: Path, redis_prefix: str) -> Iterator[World]:
    settings = make_settings(tmp_path, redis_prefix, webhook_allowed_networks=("127.0.0.1/32",))
    world = build_world(pg_engine, settings)
    with world.client:
        yield world


def test_register_test_event_delivery_and_delete(loopback_world: World) -> None:
    world = loopback_world
    with running_receiver() as receiver:
        created = world.client.post("/v1/webhooks", headers=world.headers(),
                                    json={"url": receiver.url, "description": "ci"})
        assert created.status_code == 201, created.text
        endpoint = created.json()
        secret = endpoint.pop("secret")
        assert secret.startswith("whsec_")
        assert endpoint["event_types"] == ["job.cancelled", "job.failed", "job.succeeded"]
        listed = world.client.get("/v1/webhooks", headers=world.headers()).json()
        assert listed == [endpoint]  # the secret is never shown again
        queued = world.client.post(f"/v1/webhooks/{endpoint['id']}/test",
                                   headers=world.headers())
        assert queued.status_code == 202 and queued.json()["status"] == "pending"
        settings = world.settings
        with WebhookClient.from_settings(settings) as client:
            run = deliver_due(make_session_factory(world.engine), utcnow(), client,
                              DeliveryConfig.from_settings(settings))
        assert run.delivered >= 1
    [request] = receiver.received
    verify_delivery(secret, request.headers, request.body)
    assert request.headers["webhook-id"] == queued.json()["webhook_id"]
    assert json.loads(request.body)["type"] == "webhook.test"
    history = world.client.get(f"/v1/webhooks/{endpoint['id']}/deliveries",
                               headers=world.headers()).json()
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in history] == [
        ("delivered", 1, 200)]
    assert world.client.delete(f"/v1/webhooks/{endpoint['id']}",
                               headers=world.headers()).status_code == 204
    assert world.client.get(f"/v1/webhooks/{endpoint['id']}",
                            headers=world.headers()).status_code == 404
    sequence_pending(world.engine)
    with Session(world.engine) as session:
        actions = set(session.scalars(select(AuditEventRow.action).where(
            AuditEventRow.resource == f"webhook_endpoint:{endpoint['id']}")))
    assert actions == {"webhooks:endpoint:create", "webhooks:endpoint:test",
                       "webhooks:endpoint:delete"}


def test_endpoints_belong_to_one_organisation_and_environment(loopback_world: World) -> None:
    world = loopback_world
    created = world.client.post("/v1/webhooks", headers=world.headers(),
                                json={"url": "http://127.0.0.1:9/hook"}).json()
    path = f"/v1/webhooks/{created['id']}"
    for key in (world.other_key, world.test_key):
        assert world.client.get(path, headers=world.headers(key)).status_code == 404
        assert world.client.get("/v1/webhooks", headers=world.headers(key)).json() == []
        assert world.client.delete(path, headers=world.headers(key)).status_code == 404
    narrow = world.client.get("/v1/webhooks", headers=world.headers(world.narrow_key))
    assert narrow.status_code == 403 and error_code(narrow) == "scope_missing"
    assert world.client.get("/v1/webhooks").status_code == 401


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://10.1.2.3/hook",
                                 "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]/hook", "http://localhost/hook",
                                 "gopher://example.com/"])
def test_unsafe_urls_are_refused_by_default(api: World, url: str) -> None:
    response = api.client.post("/v1/webhooks", headers=api.headers(), json={"url": url})
    assert response.status_code == 422 and error_code(response) == "webhook_url_refused"


def test_unknown_event_types_are_refused(api: World) -> None:
    response = api.client.post("/v1/webhooks", headers=api.headers(),
                               json={"url": "https://93.184.215.14/h",
                                     "event_types": ["job.exploded"]})
    assert response.status_code == 422 and response.json()["error"]["details"]["unknown"] == [
        "job.exploded"]
