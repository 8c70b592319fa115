"""``likeness quickstart``: the whole gated path on the embedded default, in one command.

Nothing to install and no servers: SQLite for the database, kombu's SQLAlchemy transport on
SQLite as the Celery broker, in-process rate limits. Still the real pieces, not shortcuts: the
partner API runs under uvicorn on a loopback port and is called over HTTP; a real Celery worker
(``EmbeddedWorker``, on a thread of this process) consumes the job from the broker; the consent
gate refuses until consent is granted, and the grant is an audited event.

The sample portrait is a public-domain NASA photograph: nobody can record a consent statement
for it on the capture page, so its subject takes the officer-only path for subjects that are
not living persons able to consent (``POST /v1/consents/nonliving``, category
``historical_photo``, with a written justification), recorded as such.

Steps: migrate -> development keys -> operator, officer, partner organisation (AUP accepted,
vetted) and its API key -> partner uploads the sample portrait and registers the subject ->
officer grants non-living consent with a justification -> partner uploads the speech and
submits a job -> worker renders through the release path -> partner downloads the signed MP4
-> verification.
Each run starts from a fresh sandbox database in ``OUT/data`` (keys there are kept).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from service.errors import ServiceError
from service.settings import Settings

PURPOSE = "education"
# What the bundled speech says: every job declares its audio's transcript.
SAMPLE_TRANSCRIPT = Path(__file__).resolve().parent.parent / "assets" / "samples" / "speech.txt"
JUSTIFICATION = ("The bundled sample portrait is a NASA photograph released into the public "
                 "domain (assets/samples/LICENSE.md); it is animated only to demonstrate the "
                 "gated path in a local sandbox, not to depict its subject saying anything.")
JOB_TIMEOUT_S = 900.0


class QuickstartFailed(ServiceError):
    code = "quickstart_failed"


@dataclass(frozen=True)
class QuickstartResult:
    video: Path
    job_id: str
    asset_id: str
    verdict_code: str
    verdict: str
    seconds: float


def sandbox_settings(out_dir: Path) -> Settings:
    """Embedded default: everything under ``out_dir/data``, no Redis, SQLite broker."""
    return Settings(data_dir=out_dir / "data", redis_url="", broker_url="")


def run_quickstart(out_dir: Path, portrait: Path, speech: Path, controls: dict[str, Any],
                   say: Callable[[str], None] = print, *,
                   transcript: str | None = None) -> QuickstartResult:
    """``transcript``: what ``speech`` says (the worker checks it before rendering); the
    bundled sample's text (``assets/samples/speech.txt``) when None."""
    started = time.perf_counter()
    settings = sandbox_settings(out_dir)
    _fresh_database(settings)
    people = _bootstrap(settings)
    say(f"partner organisation vetted; API key {people.api_key[:16]}… issued to its partner")

    from service.api.app import create_app
    from service.api.loopback import LoopbackServer
    from service.db.types import utcnow
    from service.jobs.worker import EmbeddedWorker

    with EmbeddedWorker(settings), LoopbackServer(create_app(settings)) as base_url:
        say(f"API on {base_url}; a Celery worker consumes the SQLite broker in this process")
        partner = httpx.Client(base_url=base_url, timeout=60,
                               headers={"X-Api-Key": people.api_key})
        officer = httpx.Client(base_url=base_url, timeout=60,
                               headers={"Authorization": f"Bearer {people.officer_token}"})
        with partner, officer:
            expires = (utcnow() + timedelta(days=30)).replace(microsecond=0)
            subject_id = _register_subject(partner, portrait, say)
            _grant_nonliving(officer, subject_id, expires, say)
            said = transcript if transcript is not None else SAMPLE_TRANSCRIPT.read_text()
            job = _submit(partner, subject_id, portrait, speech, said, controls, say)
            done = _wait(partner, job["id"], say)
            video = out_dir / "talking.mp4"
            video.write_bytes(_ok(partner.get(f"/v1/jobs/{job['id']}/video")).content)
            say(f"downloaded {video} ({video.stat().st_size} bytes)")
            with video.open("rb") as handle:
                check = _ok(partner.post("/v1/verify", files={"file": ("talking.mp4", handle,
                                                                         "video/mp4")})).json()
    verdict = check["verdict"]
    return QuickstartResult(video, job["id"], done.get("artifact_asset_id") or verdict["asset_id"],
                            verdict["code"], verdict["text"], time.perf_counter() - started)


def _fresh_database(settings: Settings) -> None:
    from service.db import make_engine
    from service.db.migrate import upgrade_database
    from service.keys import development_keys_exist, init_development_keys

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for name in ("likeness.db", "likeness.db-wal", "likeness.db-shm", "broker.db"):
        (settings.data_dir / name).unlink(missing_ok=True)
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    if not development_keys_exist(settings):
        init_development_keys(settings)


@dataclass(frozen=True)
class _People:
    api_key: str
    officer_token: str


def _bootstrap(settings: Settings) -> _People:
    """Operator, compliance officer, a vetted partner organisation and its API key."""
    from service.api.tokens import issue_staff_token, load_signing_key
    from service.auth.api_keys import create_api_key
    from service.auth.organisations import accept_aup, create_organisation, vet_organisation
    from service.auth.pepper import load_api_key_pepper
    from service.auth.scopes import Scope
    from service.auth.users import create_user, grant_role
    from service.db import make_engine
    from service.audit.personal import AuditKeyring
    from service.db.audit import AuditContext
    from service.db.engine import make_session_factory, session_scope
    from service.db.models import KeyEnvironment, Role
    from service.db.types import utcnow

    context = AuditContext(actor="cli:quickstart", keyring=AuditKeyring.from_settings(settings))
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            operator = create_user(session, context, email="operator@quickstart.example",
                                   display_name="Quickstart operator")
            grant_role(session, context, user_id=operator.id, role=Role.OPERATOR)
            officer = create_user(session, context, email="officer@quickstart.example",
                                  display_name="Quickstart compliance officer")
            grant_role(session, context, user_id=officer.id, role=Role.COMPLIANCE_OFFICER,
                       granted_by=operator.id)
            organisation = create_organisation(
                session, context, name="Quickstart Studio",
                declared_use_case="Educational explainer videos voiced by consenting presenters")
            partner = create_user(session, context, email="partner@quickstart.example",
                                  display_name="Quickstart partner")
            grant_role(session, context, user_id=partner.id, role=Role.PARTNER,
                       organisation_id=organisation.id, granted_by=operator.id)
            accept_aup(session, context, organisation_id=organisation.id, user_id=partner.id,
                       aup_version="2026-11")
            vet_organisation(session, context, organisation_id=organisation.id,
                             operator_id=operator.id)
            issued = create_api_key(session, context, organisation_id=organisation.id,
                                    created_by=partner.id, name="quickstart",
                                    scopes=[scope.value for scope in Scope],
                                    environment=KeyEnvironment.LIVE,
                                    pepper=load_api_key_pepper(settings))
            officer_id = officer.id
    finally:
        engine.dispose()
    token = issue_staff_token(load_signing_key(settings), user_id=officer_id,
                              issuer=settings.oauth_issuer, ttl_seconds=3600, now=utcnow())
    return _People(issued.token, token)


def _register_subject(partner: httpx.Client, portrait: Path,
                      say: Callable[[str], None]) -> str:
    with portrait.open("rb") as handle:
        asset = _ok(partner.post("/v1/assets", data={"kind": "portrait"},
                                 files={"file": (portrait.name, handle)})).json()
    subject = _ok(partner.post(
        "/v1/subjects", data={"display_name": "Sample presenter (public-domain portrait)",
                              "reference_asset_ids": [asset["id"]]})).json()
    say(f"subject {subject['id']} registered (no consent yet)")
    return subject["id"]


def _grant_nonliving(officer: httpx.Client, subject_id: str, expires: datetime,
                     say: Callable[[str], None]) -> None:
    granted = _ok(officer.post("/v1/consents/nonliving", json={
        "subject_id": subject_id, "category": "historical_photo",
        "justification": JUSTIFICATION, "purposes": [PURPOSE],
        "expires_at": expires.isoformat()})).json()
    say(f"compliance officer granted consent {granted['id']} on the non-living path "
        f"({granted['basis']}, {granted['nonliving_category']}; purposes "
        f"{granted['purposes']})")


def _submit(partner: httpx.Client, subject_id: str, portrait: Path, speech: Path,
            transcript: str, controls: dict[str, Any],
            say: Callable[[str], None]) -> dict[str, Any]:
    portrait_id, audio_id = _upload_inputs(partner, subject_id, portrait, speech)
    job = _ok(partner.post("/v1/jobs", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
        "subject_id": subject_id, "purpose": PURPOSE, "portrait_asset_id": portrait_id,
        "audio_asset_id": audio_id, "transcript": transcript, "language": "en",
        "controls": controls})).json()
    say(f"job {job['id']} accepted ({job['state']})")
    return job


def _upload_inputs(partner: httpx.Client, subject_id: str, portrait: Path,
                   speech: Path) -> tuple[str, str]:
    """A job's portrait (for the subject: its face is checked against the references) and
    speech, as validated assets; returns their ids."""
    with portrait.open("rb") as handle:
        picture = _ok(partner.post("/v1/assets", data={"kind": "portrait",
                                                       "subject_id": subject_id},
                                   files={"file": (portrait.name, handle)})).json()
    with speech.open("rb") as handle:
        audio = _ok(partner.post("/v1/assets", data={"kind": "audio"},
                                 files={"file": (speech.name, handle)})).json()
    return picture["id"], audio["id"]


def _wait(partner: httpx.Client, job_id: str, say: Callable[[str], None]) -> dict[str, Any]:
    deadline, shown = time.monotonic() + JOB_TIMEOUT_S, -1
    while time.monotonic() < deadline:
        job = _ok(partner.get(f"/v1/jobs/{job_id}")).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            if job["state"] != "succeeded":
                error = job.get("error") or {}
                raise QuickstartFailed(f"job {job_id} {job['state']}: {error.get('code')} "
                                       f"{error.get('message') or ''}".strip(), job=job)
            say(f"job {job_id} succeeded")
            return job
        percent = int(100 * float(job.get("progress") or 0))
        if percent // 20 != shown:
            shown = percent // 20
            say(f"job {job_id} {job['state']} {percent} %")
        time.sleep(0.5)
    raise QuickstartFailed(f"job {job_id} did not finish in {JOB_TIMEOUT_S:.0f} s", job_id=job_id)


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise QuickstartFailed(f"{response.request.method} {response.request.url.path} -> "
                               f"{response.status_code}: {response.text[:500]}",
                               status=response.status_code)
    return response
