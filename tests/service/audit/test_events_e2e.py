"""Every security-relevant action, driven through the real API, worker code and CLI on
PostgreSQL and on SQLite, leaves its audit event with the right actor, outcome and resource;
officers query and export them; personal fields never appear in clear and erasure shreds them.

One module-scoped story per backend walks the whole path once (a short render included): keys,
refused credentials, subjects and consent decisions, jobs submitted / refused / cancelled /
rendered / failed, downloads, verification (API and CLI), webhook and key changes, a signed
checkpoint. Its own database: checkpoints other tests sign never meet this story's key.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from policy.audit.bundle import verify_bundle
from service.audit.log_keys import load_log_verifier
from service.audit.query import (
    AuditFilter,
    AuditRecord,
    Order,
    query_events,
    refresh_log,
)
from service.cli import main
from service.db import make_engine
from service.db.migrate import upgrade_database
from service.db.models import ApiKey, AuditPendingRow, Role, RoleGrant, User
from tests.conftest import BACKENDS, database_url
from tests.service.api.conftest import (
    REDIS_URL,
    World,
    build_world,
    expiry,
    face,
    make_settings,
    register,
    speech,
    upload,
)
from tests.service.jobs.conftest import PrivateRedis, private_redis  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow

NAME = "Ada Lovelace-Byron"  # the registered subject's name: personal, never in clear
TRANSCRIPT = "Please bring me the blue map."
HOOK = "http://127.0.0.1:8080/hook"


@dataclass
class Story:
    world: World
    env: dict[str, str]
    ids: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)

    def events(self, **filters: Any) -> list[AuditRecord]:
        with Session(self.world.engine) as session, session.begin():
            refresh_log(session)
            return list(query_events(session, AuditFilter(**filters), order=Order.OLDEST,
                                     limit=500, keyring=self.world.client.app.state.services
                                     .audit_keyring).records)

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=self.env)


@pytest.fixture(scope="module", params=BACKENDS)
def story(request: pytest.FixtureRequest, postgres_database,
          private_redis: PrivateRedis,  # noqa: F811
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    data = tmp_path_factory.mktemp("audit-e2e")
    engine = make_engine(database_url(request.param, postgres_database, data,
                                      "likeness_test_audit_e2e"))
    upgrade_database(engine)
    prefix = f"likeness-test-{secrets.token_hex(6)}:"
    settings = make_settings(data, prefix, broker_url=private_redis.url(0),
                             webhook_allowed_networks=("127.0.0.1/32",))
    env = {"LIKENESS_DATA_DIR": str(data),
           "LIKENESS_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    world = build_world(engine, settings)
    tale = Story(world, env)
    try:
        with world.client:
            _tell(tale, data)
            yield tale
    finally:
        redis = Redis.from_url(REDIS_URL)
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
        redis.close()
        engine.dispose()


def _tell(story: Story, data: Path) -> None:
    assert story.cli("pki", "init").exit_code == 0  # with a database: an audited key change
    _credentials(story)
    _subjects(story)
    _jobs(story, data)
    _changes(story)
    assert story.cli("audit", "checkpoint").exit_code == 0


def _key_id(token: str) -> str:
    return token.split("_")[2]


def _credentials(story: Story) -> None:
    w, ids = story.world, story.ids
    ids["partner_key"], ids["narrow_key"] = _key_id(w.partner_key), _key_id(w.narrow_key)
    first = w.client.get("/v1/jobs", headers=w.headers() | {"X-Request-Id": "req-first-use"})
    assert first.status_code == 200, first.text
    wrong = w.partner_key[:-1] + ("a" if w.partner_key[-1] != "a" else "b")
    assert w.client.get("/v1/jobs", headers=w.headers(wrong)).status_code == 401
    ids["unknown_key"] = "b" * 16
    unknown = f"lk_live_{ids['unknown_key']}_{'c' * 32}"
    assert w.client.get("/v1/jobs", headers=w.headers(unknown)).status_code == 401
    assert w.client.get("/v1/jobs", headers=w.headers("not-a-jwt")).status_code == 401
    narrow = w.client.post("/v1/jobs", headers=w.headers(w.narrow_key), json={})
    assert narrow.status_code == 403, narrow.text
    assert w.client.get("/v1/consents", headers=w.headers()).status_code == 403
    basic = base64.b64encode(f"{ids['partner_key']}:{w.partner_key}".encode()).decode()
    token = w.client.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"})
    assert token.status_code == 200, token.text


def _subject(story: Story, name: str = NAME) -> dict[str, Any]:
    w = story.world
    asset = upload(w, face("obama.jpg"))
    assert asset.status_code == 201, asset.text
    made = register(w, [asset.json()["id"]], name=name, purposes=["dubbing"])
    assert made.status_code == 201, made.text
    return made.json()


def _subjects(story: Story) -> None:
    w, ids = story.world, story.ids
    approved, rejected, pending = (_subject(story), _subject(story, "Bob Rejected"),
                                   _subject(story, "Pat Pending"))
    ids["subject"], ids["consent"] = approved["id"], approved["consents"][0]["id"]
    ids["rejected_consent"] = rejected["consents"][0]["id"]
    ids["pending_subject"] = pending["id"]
    evidence = w.client.get(f"/v1/consents/{ids['consent']}/evidence", headers=w.officer())
    assert evidence.status_code == 200
    decided = w.client.post(f"/v1/consents/{ids['consent']}/approve", headers=w.officer(),
                            json={"purposes": ["dubbing"], "expires_at": expiry(10)})
    assert decided.status_code == 200, decided.text
    refused = w.client.post(f"/v1/consents/{ids['rejected_consent']}/reject",
                            headers=w.officer(), json={"reason": "the signature is missing"})
    assert refused.status_code == 200, refused.text


def _job_body(story: Story, subject_id: str) -> dict[str, Any]:
    w = story.world
    if "portrait_asset" not in story.ids:
        portrait = upload(w, face("obama2.jpg")).json()
        audio = upload(w, speech(1.8), "audio", filename="line.wav",
                       content_type="audio/wav").json()
        story.ids["portrait_asset"], story.ids["audio_asset"] = portrait["id"], audio["id"]
    return {"subject_id": subject_id, "purpose": "dubbing", "transcript": TRANSCRIPT,
            "portrait_asset_id": story.ids["portrait_asset"],
            "audio_asset_id": story.ids["audio_asset"], "controls": {"steps": 2, "seed": 3}}


def _jobs(story: Story, data: Path) -> None:
    from service.jobs import run_job
    from service.jobs.runtime import build_runtime

    w, ids = story.world, story.ids
    refused = w.client.post("/v1/jobs", headers=w.headers(),
                            json=_job_body(story, ids["pending_subject"]))
    assert refused.status_code == 403, refused.text
    body = _job_body(story, ids["subject"])
    wrong_words = {"transcript": "The weather in Lisbon is lovely today."}
    rendered, failing, cancelled = (
        w.client.post("/v1/jobs", headers=w.headers(), json=body | changes).json()
        for changes in ({}, wrong_words, {"controls": {"steps": 2, "seed": 5}}))
    ids |= {"job": rendered["id"], "failed_job": failing["id"], "cancelled_job": cancelled["id"]}
    assert w.client.post(f"/v1/jobs/{cancelled['id']}/cancel",
                         headers=w.headers()).status_code == 200
    settings = w.settings.model_copy(update={
        "database_url": story.env["LIKENESS_DATABASE_URL"], "device": "cpu"})
    runtime = build_runtime(settings)
    try:
        done = run_job(runtime, uuid.UUID(rendered["id"]))
        assert done.outcome == "succeeded", done
        ids["asset_id"] = done.asset_id
        stopped = run_job(runtime, uuid.UUID(failing["id"]))  # the audio does not say that
        assert (stopped.outcome, stopped.error_code) == ("failed", "transcript_mismatch")
    finally:
        runtime.close()
    video = w.client.get(f"/v1/jobs/{rendered['id']}/video", headers=w.headers())
    assert video.status_code == 200
    path = data / "downloaded.mp4"
    path.write_bytes(video.content)
    ids["video_sha256"] = video.headers["ETag"].strip('"')
    checked = w.client.post("/v1/verify", files={"file": ("v.mp4", video.content, "video/mp4")})
    assert checked.status_code == 200, checked.text
    local = story.cli("verify", str(path))
    assert local.exit_code == 0, local.output
    revoked = w.client.post(f"/v1/consents/{ids['consent']}/revoke", headers=w.officer(),
                            json={"reason": "the actor withdrew consent"})
    assert revoked.status_code == 200, revoked.text


def _changes(story: Story) -> None:
    w, ids = story.world, story.ids
    hook = w.client.post("/v1/webhooks", headers=w.headers(), json={"url": HOOK})
    assert hook.status_code == 201, hook.text
    ids["webhook"] = hook.json()["id"]
    assert w.client.delete(f"/v1/webhooks/{ids['webhook']}",
                           headers=w.headers()).status_code == 204
    with Session(w.engine) as session:
        partner = session.scalar(select(User).join(RoleGrant, RoleGrant.user_id == User.id)
                                 .where(RoleGrant.role == Role.PARTNER,
                                        RoleGrant.organisation_id == w.org_id))
        officer = session.get(User, w.officer_id)
        ids["partner_user"], ids["officer_email"] = partner.id, officer.email
        partner_email = partner.email
    # (outside the session: on SQLite it holds the write lock the CLI needs)
    revoked = story.cli("keys", "revoke", ids["narrow_key"], "--by", partner_email)
    assert revoked.exit_code == 0, revoked.output
    token = story.cli("staff", "token", ids["officer_email"])
    assert token.exit_code == 0, token.output


# -- the events ----------------------------------------------------------------------------------


def _one(story: Story, action: str, resource: str, **filters: Any) -> AuditRecord:
    found = [e for e in story.events(action=action, **filters) if e.resource == resource]
    assert len(found) >= 1, f"no {action} on {resource}"
    return found[0]


def test_credentials_and_authentication_failures(story: Story) -> None:
    w, ids = story.world, story.ids
    partner = f"api_key:{ids['partner_key']}"
    created = _one(story, "auth:api_key:create", partner)
    assert created.actor == "system:test" and created.refs.organisation_id == w.org_id
    first = _one(story, "auth:api_key:use", partner)
    assert (first.actor, first.payload, first.request_id) == (partner, {"first_use": True},
                                                              "req-first-use")
    assert first.client_address == "testclient"
    wrong = _one(story, "auth:api_key:authenticate", partner)
    assert (wrong.actor, wrong.outcome.value, wrong.payload) == (
        "anonymous", "denied", {"code": "api_key_invalid"})
    unknown = _one(story, "auth:api_key:authenticate", f"api_key:{ids['unknown_key']}")
    assert (unknown.actor, unknown.outcome.value) == ("anonymous", "denied")
    bad_token = _one(story, "auth:token:authenticate", "token:bearer")
    assert bad_token.outcome.value == "denied" and bad_token.payload["code"] == "token_invalid"
    narrow = f"api_key:{ids['narrow_key']}"
    scope = _one(story, "auth:api_key:authorize", narrow)
    assert (scope.actor, scope.outcome.value, scope.payload["missing"]) == (
        narrow, "denied", ["jobs:create"])
    role = [e for e in story.events(action="auth:api_key:authorize", actor=partner)]
    assert role and role[0].payload["code"] == "role_missing"
    issued = _one(story, "auth:token:issue", partner)
    assert issued.actor == partner and issued.payload["kind"] == "partner"
    staff = _one(story, "auth:token:issue", f"user:{w.officer_id}")
    assert staff.actor.startswith("cli:") and staff.payload["kind"] == "staff"
    revoked = _one(story, "auth:api_key:revoke", narrow)
    assert revoked.actor.startswith("cli:") and revoked.outcome.value == "success"


def test_subjects_consents_and_jobs(story: Story) -> None:
    ids, partner = story.ids, f"api_key:{story.ids['partner_key']}"
    officer = f"user:{story.world.officer_id}"
    subject = _one(story, "partner:subject:register", f"subject:{ids['subject']}")
    assert subject.actor == partner and subject.payload["display_name"] == NAME
    requested = _one(story, "partner:consent:request", f"consent:{ids['consent']}")
    assert requested.actor == partner
    for action, consent in (("compliance:consent:approve", ids["consent"]),
                            ("compliance:consent:reject", ids["rejected_consent"]),
                            ("compliance:consent:revoke", ids["consent"])):
        decided = _one(story, action, f"consent:{consent}")
        assert decided.actor == officer and decided.outcome.value == "success"
    refused = _one(story, "job:job:submit", f"subject:{ids['pending_subject']}")
    assert (refused.actor, refused.outcome.value, refused.payload["reason"]) == (
        partner, "denied", "consent_pending")
    job = f"job:{ids['job']}"
    assert _one(story, "job:job:submit", job).actor == partner
    worker = _one(story, "job:job:start", job).actor
    assert worker.startswith("system:worker:")
    assert _one(story, "job:job:succeed", job).payload["asset_id"] == ids["asset_id"]
    failed = _one(story, "job:job:fail", f"job:{ids['failed_job']}")
    assert (failed.outcome.value, failed.payload["error_code"]) == ("denied",
                                                                    "transcript_mismatch")
    cancelled = _one(story, "job:job:cancel", f"job:{ids['cancelled_job']}")
    assert cancelled.actor == partner
    assert {e.action for e in story.events(job_id=uuid.UUID(ids["job"]))} >= {
        "job:job:submit", "job:job:start", "job:job:succeed", "release:artifact:sign",
        "partner:artifact:download"}


def test_artifacts_downloads_verifications_and_changes(story: Story) -> None:
    ids, artifact = story.ids, f"artifact:{story.ids['asset_id']}"
    signed = _one(story, "release:artifact:sign", artifact)
    assert signed.payload["manifest_id"].startswith("urn:")
    assert signed.payload["sha256"] == ids["video_sha256"]
    assert signed.payload["portrait_sha256"] and signed.payload["audio_sha256"]
    assert signed.refs.job_id == uuid.UUID(ids["job"])
    download = _one(story, "partner:artifact:download", artifact)
    assert download.actor == f"api_key:{ids['partner_key']}"
    [evidence] = [e for e in story.events(action="compliance:evidence:download")
                  if e.payload["consent_id"] == ids["consent"]]
    assert evidence.actor == f"user:{story.world.officer_id}"
    assert evidence.resource.startswith("asset:")
    assert evidence.refs.subject_id == uuid.UUID(ids["subject"])
    public = _one(story, "public:artifact:verify", artifact)
    assert public.actor == "anonymous" and public.payload["verdict_code"] == "signed_intact"
    assert public.payload["registered"] is True
    local = _one(story, "release:artifact:verify", artifact)
    assert local.actor.startswith("cli:") and local.payload["sha256"] == ids["video_sha256"]
    assert _one(story, "ops:pki:init", "pki:development").actor.startswith("cli:")
    hook = f"webhook_endpoint:{ids['webhook']}"
    assert _one(story, "webhooks:endpoint:create", hook).refs.organisation_id \
        == story.world.org_id
    assert _one(story, "webhooks:endpoint:delete", hook).outcome.value == "success"
    organisation = f"organisation:{story.world.org_id}"
    for action in ("org:organisation:create", "org:organisation:accept_aup",
                   "org:organisation:vet"):
        assert _one(story, action, organisation).actor == "system:test"
    grant = _one(story, "auth:role:grant", f"user:{ids['partner_user']}")
    assert grant.payload["role"] == "partner"


def test_officers_query_with_filters_and_partners_are_refused(story: Story) -> None:
    w, ids = story.world, story.ids
    page = w.client.get("/v1/audit/events", headers=w.officer(),
                        params={"organisation_id": str(w.org_id), "action": "job:job:",
                                "order": "oldest", "limit": 3})
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["items"]) == 3 and body["next_cursor"] == body["items"][-1]["seq"]
    rest = w.client.get("/v1/audit/events", headers=w.officer(),
                        params={"organisation_id": str(w.org_id), "action": "job:job:",
                                "order": "oldest", "cursor": body["next_cursor"]}).json()
    actions = [e["action"] for e in body["items"] + rest["items"]]
    assert actions.count("job:job:submit") == 4 and rest["next_cursor"] is None
    denied = w.client.get("/v1/audit/events", headers=w.officer(),
                          params={"outcome": "denied", "subject_id": ids["pending_subject"]})
    assert [e["action"] for e in denied.json()["items"]] == ["job:job:submit"]
    mine = w.client.get("/v1/audit/events", headers=w.officer(),
                        params={"subject_id": ids["subject"], "action": "partner:subject:"})
    [registered] = mine.json()["items"]
    assert registered["payload"]["display_name"] == NAME
    assert registered["organisation_id"] == str(w.org_id)
    assert w.client.get("/v1/audit/events", headers=w.headers()).status_code == 403
    bad = w.client.get("/v1/audit/events", headers=w.officer(), params={"limit": 501})
    assert bad.status_code == 422


def test_api_exports_each_format_and_records_them(story: Story) -> None:
    w = story.world
    bundle = w.client.get("/v1/audit/export", headers=w.officer(), params={"format": "jsonl"})
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith(
        "application/x-ndjson")
    report = verify_bundle(bundle.text.splitlines(), load_log_verifier(w.settings))
    assert report.ok, report.failure
    assert report.events_verified == int(bundle.headers["X-Audit-Through-Seq"])
    assert NAME not in bundle.text
    table = w.client.get("/v1/audit/export", headers=w.officer(),
                         params={"format": "csv", "action": "partner:subject:"})
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert len(rows) == 3 and NAME in {json.loads(r["payload"])["display_name"] for r in rows}
    ocsf = w.client.get("/v1/audit/export", headers=w.officer(),
                        params={"format": "ocsf", "job_id": story.ids["job"]})
    objects = [json.loads(line) for line in ocsf.text.splitlines()]
    assert objects and {o["class_uid"] for o in objects} == {6003}
    assert {o["api"]["operation"] for o in objects} >= {"job:job:start", "job:job:succeed"}
    exports = story.events(action="compliance:audit:export", actor=f"user:{w.officer_id}")
    assert [e.payload["format"] for e in exports] == ["jsonl", "csv", "ocsf"]
    assert exports[0].client_address == "testclient"


def test_names_never_in_clear_and_erasure_shreds_them(story: Story) -> None:
    w, ids = story.world, story.ids
    with Session(w.engine) as session:
        stored = [str(row) for row in session.execute(text(
            "SELECT payload FROM audit_events")).scalars()]
        waiting = session.scalars(select(AuditPendingRow.payload_json)).all()
        keys = session.scalars(select(ApiKey.key_id)).all()
    assert stored and not any(NAME in row or "Bob Rejected" in row for row in stored)
    assert not any(NAME in row for row in waiting)
    assert not any("@l.test" in row for row in stored)  # users' emails are sealed too
    assert keys
    erased = w.client.post(f"/v1/subjects/{ids['subject']}/erase", headers=w.officer(),
                           json={"reason": "the subject asked to be forgotten"})
    assert erased.status_code == 200, erased.text
    [registered] = story.events(action="partner:subject:register",
                                subject_id=uuid.UUID(ids["subject"]))
    assert registered.payload["display_name"] == "[erased]"
    [other] = [e for e in story.events(action="partner:subject:register")
               if e.payload["display_name"] == "Bob Rejected"]
    assert other.resource != registered.resource
    verified = w.client.get("/v1/audit/verify", headers=w.officer())
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
