"""OAuth2 client credentials, bearer tokens, rate limits, request ids and health checks."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.tokens import issue_staff_token, load_signing_key, verify_token
from service.errors import TokenExpired
from tests.service.api.conftest import World, build_world, error_code, face, make_settings


def _basic(key: str) -> dict[str, str]:
    key_id = key.split("_")[2]
    raw = base64.b64encode(f"{key_id}:{key}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_client_credentials_token_works_as_bearer(api: World) -> None:
    response = api.client.post("/v1/oauth/token", headers=_basic(api.partner_key),
                               data={"grant_type": "client_credentials",
                                     "scope": "assets:write jobs:read"})
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"].lower() == "bearer" and token["expires_in"] == 900
    assert set(token["scope"].split()) == {"assets:write", "jobs:read"}
    claims = verify_token(load_signing_key(api.settings), token["access_token"],
                          issuer="likeness", now=datetime.now(UTC))
    assert claims.organisation_id == api.org_id and claims.environment.value == "live"
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    uploaded = api.client.post("/v1/assets", headers=bearer, data={"kind": "portrait"},
                               files={"file": ("a.jpg", face("obama2.jpg"), "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text
    # The token carries only the scopes asked for.
    refused = api.client.post("/v1/subjects", headers=bearer, data={"display_name": "x"})
    assert refused.status_code == 403 and error_code(refused) == "scope_missing"
    with pytest.raises(TokenExpired):
        verify_token(load_signing_key(api.settings), token["access_token"], issuer="likeness",
                     now=datetime.now(UTC) + timedelta(seconds=901))


def test_client_secret_post_and_wrong_secret(api: World) -> None:
    key_id = api.partner_key.split("_")[2]
    ok = api.client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": key_id,
        "client_secret": api.partner_key})
    assert ok.status_code == 200
    wrong = api.client.post("/v1/oauth/token", headers=_basic(api.partner_key[:-4] + "aaaa"),
                            data={"grant_type": "client_credentials"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    other = api.client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": key_id,
        "client_secret": api.other_key})
    assert other.status_code in (400, 401) and other.json()["error"] == "invalid_client"


def test_forged_and_expired_bearers_are_refused(api: World, tmp_path: Path) -> None:
    token = api.client.post("/v1/oauth/token", headers=_basic(api.partner_key),
                            data={"grant_type": "client_credentials"}).json()["access_token"]
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["org"] = str(api.other_org_id)
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = api.client.get("/v1/assets/0190d1f0-0000-7000-8000-000000000000",
                            headers={"Authorization": f"Bearer {head}.{forged_body}.{signature}"})
    assert forged.status_code == 401 and error_code(forged) == "token_invalid"
    # A token signed with another server's key (a fresh data directory's) is foreign.
    foreign_key = load_signing_key(make_settings(tmp_path / "other", "x:"))
    foreign = issue_staff_token(foreign_key, user_id=api.officer_id, issuer="likeness",
                                ttl_seconds=60, now=datetime.now(UTC))
    response = api.client.get("/v1/consents", headers={"Authorization": f"Bearer {foreign}"})
    assert response.status_code == 401 and error_code(response) == "token_invalid"
    stale = issue_staff_token(load_signing_key(api.settings), user_id=api.officer_id,
                              issuer="likeness", ttl_seconds=60,
                              now=datetime.now(UTC) - timedelta(minutes=5))
    response = api.client.get("/v1/consents", headers={"Authorization": f"Bearer {stale}"})
    assert response.status_code == 401 and error_code(response) == "token_expired"


def test_plain_http_token_request_is_refused(api: World) -> None:
    insecure = TestClient(api.client.app, base_url="http://api.example")
    response = insecure.post("/v1/oauth/token", headers=_basic(api.partner_key),
                             data={"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json()["error"] == "insecure_transport"


def test_rate_limit_answers_429_with_retry_after(pg_engine, tmp_path: Path,
                                                 redis_prefix: str) -> None:
    settings = make_settings(tmp_path, redis_prefix, rate_limit_per_minute=3,
                             rate_limit_anonymous_per_minute=2)
    world = build_world(pg_engine, settings)
    with world.client as client:
        statuses = [client.get("/v1/assets/0190d1f0-0000-7000-8000-000000000000",
                               headers=world.headers()).status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        limited = client.get("/v1/assets/0190d1f0-0000-7000-8000-000000000000",
                             headers=world.headers())
        assert error_code(limited) == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Another key has its own window; callers without a credential share their address's.
        assert client.get("/v1/assets/0190d1f0-0000-7000-8000-000000000000",
                          headers=world.headers(world.other_key)).status_code == 404
        anonymous = [client.get("/v1/assets/x").status_code for _ in range(3)]
        assert anonymous == [401, 401, 429]


def test_request_id_is_echoed_and_logged(api: World, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="likeness.api.access"):
        response = api.client.get("/healthz", headers={"X-Request-Id": "req-abc.123"})
        bogus = api.client.get("/healthz", headers={"X-Request-Id": "bad id; drop"})
    assert response.headers["x-request-id"] == "req-abc.123"
    generated = bogus.headers["x-request-id"]
    assert generated != "bad id; drop" and len(generated) == 32
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "likeness.api.access"]
    assert {"request_id": "req-abc.123", "status": 200, "path": "/healthz"}.items() \
        <= lines[0].items()


def test_readyz_checks_database_redis_and_models(api: World, tmp_path: Path,
                                                 redis_prefix: str) -> None:
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True
    closed = make_settings(tmp_path / "closed", redis_prefix,
                           redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(closed, engine=api.engine), base_url="https://testserver") as c:
        response = c.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["redis"]["ok"] is False and body["database"]["ok"] is True
        # The rate limiter fails closed while Redis is away.
        refused = c.get("/v1/assets/x", headers={"X-Api-Key": api.partner_key})
        assert refused.status_code == 503 and error_code(refused) == "dependency_unavailable"
