"""The jobs routes against real PostgreSQL and Redis, with the application's consent gate.

Subjects, consents and inputs are seeded straight into the database from real dlib encodings
(computed once per module), so each refusal costs a request and no face detection; one test
walks the whole path over HTTP and renders a short clip with the real worker code. Tasks go to
a private Redis (the broker): the shared one never holds this module's queue.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db.audit import AuditContext
from service.db.models import (
    Asset,
    AuditEventRow,
    Consent,
    ConsentStatus,
    Job,
    JobState,
    OutboxEntry,
    Subject,
)
from service.domain import Owner, UploadLimits, ValidatedUpload, validate_audio, validate_portrait
from service.domain.assets import new_asset_row
from service.domain.face_templates import TemplateBox
from service.domain.registry import register_artifact
from service.errors import ConsentRefused
from service.jobs.retention import purge_expired_artifacts
from service.storage import LocalBlobStore
from tests.service.api.conftest import (
    PDF,
    World,
    biden,
    build_world,
    error_code,
    expiry,
    face,
    make_settings,
    registered_subject,
    speech,
    upload,
)
from tests.service.jobs.conftest import PrivateRedis, private_redis  # noqa: F401 (a fixture)
from tests.service.sealed_support import portrait_version_1

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, ValidatedUpload]:
    limits = UploadLimits.from_settings(make_settings(tmp_path_factory.mktemp("s"), "x:"))
    uploads = {name: validate_portrait(data, limits) for name, data in
               (("obama", face("obama.jpg")), ("obama2", face("obama2.jpg")),
                ("biden", biden()))}
    return uploads | {"speech": validate_audio(speech(1.7), limits)}


def jobs_world(pg_engine, tmp_path, redis_prefix: str, broker: PrivateRedis,
               **overrides: object) -> World:
    return build_world(pg_engine, make_settings(tmp_path, redis_prefix,
                                                broker_url=broker.url(0), **overrides))


@pytest.fixture
def api(pg_engine, tmp_path, redis_prefix: str, private_redis: PrivateRedis):  # noqa: F811
    world = jobs_world(pg_engine, tmp_path, redis_prefix, private_redis)
    with world.client:
        yield world


@dataclass(frozen=True)
class Seeded:
    subject_id: str
    consent_id: str | None
    portrait_id: str
    audio_id: str

    def body(self, **changes: object) -> dict:
        return {"subject_id": self.subject_id, "purpose": "dubbing",
                "portrait_asset_id": self.portrait_id, "audio_asset_id": self.audio_id,
                "transcript": "Please bring me the blue map.", "controls": {"steps": 2, "seed": 1}} | changes


def seed(world: World, media, *, status: ConsentStatus | None = ConsentStatus.APPROVED,
         purposes: tuple[str, ...] = ("dubbing",), expires_in: timedelta = timedelta(days=30),
         portrait: str = "obama2", is_test: bool = False) -> Seeded:
    """A subject (reference: obama.jpg) with one consent in ``status`` (None: no consent),
    plus a job portrait and a speech clip, all owned by the world's first partner."""
    owner = Owner(world.org_id, is_test)
    store = LocalBlobStore(world.settings.blob_root)
    box = TemplateBox.from_settings(world.settings)  # the app's own key (data_dir)
    with Session(world.engine, expire_on_commit=False) as session:
        subject = Subject(organisation_id=world.org_id, display_name="Ada", is_test=is_test)
        session.add(subject)
        session.flush()
        session.add(new_asset_row(store, owner, media["obama"], subject_id=subject.id, now=NOW,
                                  is_reference=True, box=box))
        consent = None
        if status is not None:
            consent = Consent(subject_id=subject.id, organisation_id=world.org_id,
                              status=status, purposes=list(purposes),
                              expires_at=NOW + expires_in, requested_at=NOW,
                              revoked_at=NOW if status == ConsentStatus.REVOKED else None)
            session.add(consent)
        job_portrait = new_asset_row(store, owner, media[portrait], subject_id=None, now=NOW,
                                     box=box)
        audio = new_asset_row(store, owner, media["speech"], subject_id=None, now=NOW)
        session.add_all([job_portrait, audio])
        session.commit()
        return Seeded(str(subject.id), consent and str(consent.id), str(job_portrait.id),
                      str(audio.id))


def submit(world: World, body: dict, *, key: str | None = None, idempotency: str | None = None):
    headers = world.headers(key) | ({"Idempotency-Key": idempotency} if idempotency else {})
    return world.client.post("/v1/jobs", headers=headers, json=body)


def count(world: World, model, *where) -> int:
    sequence_pending(world.engine)  # audit events reach audit_events through the sequencer
    with Session(world.engine) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_job_is_accepted_queued_and_sent(api: World, media,
                                           private_redis: PrivateRedis) -> None:  # noqa: F811
    seeded = seed(api, media)
    response = submit(api, seeded.body())
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}" == job["links"]["self"]
    assert (job["state"], job["progress"], job["consent_id"]) == ("queued", 0.0,
                                                                  seeded.consent_id)
    assert job["controls"]["steps"] == 2 and "emotion" in job["controls"]  # defaults filled in
    assert job["error"] is None and job["artifact_asset_id"] is None
    assert job["links"]["video"] is None and job["timings"]["started_at"] is None
    sequence_pending(api.engine)
    with Session(api.engine) as session:
        [entry] = session.scalars(select(OutboxEntry).where(OutboxEntry.job_id == job["id"]))
        assert entry.sent_at is not None  # sent to the broker after the commit
        actions = session.scalars(select(AuditEventRow.action).where(
            AuditEventRow.resource == f"job:{job['id']}")).all()
    assert actions == ["job:job:submit"]
    with private_redis.client() as broker:  # the render task waits on the GPU queue
        queued = [json.loads(m) for m in broker.lrange(api.settings.gpu_queue, 0, -1)]
    assert [m["headers"]["argsrepr"] for m in queued if m["headers"]["id"] == str(entry.id)] \
        == [repr([job["id"]])]
    read = api.client.get(job["links"]["self"], headers=api.headers())
    assert read.status_code == 200 and read.json() == job
    video = api.client.get(f"/v1/jobs/{job['id']}/video", headers=api.headers())
    assert video.status_code == 409 and error_code(video) == "job_not_finished"


REFUSALS: dict[str, dict[str, object]] = {
    "consent_missing": {"status": None},
    "consent_pending": {"status": ConsentStatus.PENDING},
    "consent_rejected": {"status": ConsentStatus.REJECTED},
    "consent_revoked": {"status": ConsentStatus.REVOKED},
    "consent_expired": {"expires_in": timedelta(seconds=-1)},
    "purpose_not_covered": {"purposes": ("advertising",)},
    "face_mismatch": {"portrait": "biden"},
}


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_the_consent_gate_refuses_with_its_reason(api: World, media, reason: str) -> None:
    seeded = seed(api, media, **REFUSALS[reason])
    response = submit(api, seeded.body())
    assert response.status_code == 403, response.text
    assert error_code(response) == "consent_refused"
    assert response.json()["error"]["details"]["reason"] == reason
    assert count(api, Job, Job.subject_id == seeded.subject_id) == 0
    # The refusal is on record although the request failed.
    assert count(api, AuditEventRow, AuditEventRow.resource == f"subject:{seeded.subject_id}",
                 AuditEventRow.action == "job:job:submit",
                 AuditEventRow.outcome == "denied") == 1


def test_another_partners_jobs_and_inputs_do_not_exist_for_it(api: World, media) -> None:
    seeded = seed(api, media)
    job = submit(api, seeded.body()).json()
    other = api.headers(api.other_key)
    for method, path in (("GET", f"/v1/jobs/{job['id']}"),
                         ("GET", f"/v1/jobs/{job['id']}/video"),
                         ("POST", f"/v1/jobs/{job['id']}/cancel")):
        response = api.client.request(method, path, headers=other)
        assert response.status_code == 404 and error_code(response) == "not_found", path
    assert api.client.get("/v1/jobs", headers=other).json()["items"] == []
    # Nor can it animate the first partner's subject from the first partner's inputs.
    response = submit(api, seeded.body(), key=api.other_key)
    assert response.status_code == 404 and error_code(response) == "not_found"
    # The sandbox is another environment: a test key does not see live jobs either.
    assert api.client.get(f"/v1/jobs/{job['id']}",
                          headers=api.headers(api.test_key)).status_code == 404


def test_idempotent_replay_and_conflicting_reuse(api: World, media) -> None:
    seeded = seed(api, media)
    first = submit(api, seeded.body(), idempotency="order-42")
    again = submit(api, seeded.body(), idempotency="order-42")
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json() == first.json()
    assert count(api, Job, Job.subject_id == seeded.subject_id) == 1
    assert count(api, OutboxEntry, OutboxEntry.job_id == first.json()["id"]) == 1
    changed = submit(api, seeded.body(controls={"steps": 3}), idempotency="order-42")
    assert changed.status_code == 409 and error_code(changed) == "idempotency_key_reused"
    assert changed.json()["error"]["details"]["job_id"] == first.json()["id"]
    fresh = submit(api, seeded.body(), idempotency="order-43")
    assert fresh.status_code == 202 and fresh.json()["id"] != first.json()["id"]


def test_cancel_a_queued_job(api: World, media) -> None:
    job = submit(api, seed(api, media).body()).json()
    cancelled = api.client.post(job["links"]["cancel"], headers=api.headers())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["timings"]["finished_at"] is not None
    assert api.client.get(job["links"]["self"], headers=api.headers()).json()["state"] \
        == "cancelled"
    again = api.client.post(job["links"]["cancel"], headers=api.headers())
    assert again.status_code == 409 and error_code(again) == "state_conflict"


def test_list_pages_newest_first_and_filters_by_state(api: World, media) -> None:
    seeded = seed(api, media)
    ids = [submit(api, seeded.body(controls={"seed": i})).json()["id"] for i in range(5)]
    api.client.post(f"/v1/jobs/{ids[1]}/cancel", headers=api.headers())
    pages, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/v1/jobs", headers=api.headers(), params=params).json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [job_id for page in pages for job_id in page] == ids[::-1]
    assert [len(page) for page in pages][:3] == [2, 2, 1]
    cancelled = api.client.get("/v1/jobs", headers=api.headers(),
                               params={"state": "cancelled"}).json()
    assert [item["id"] for item in cancelled["items"]] == [ids[1]]
    bad = api.client.get("/v1/jobs", headers=api.headers(), params={"cursor": "nope"})
    assert bad.status_code == 422 and error_code(bad) == "request_invalid"


def test_monthly_quota_per_environment(pg_engine, tmp_path, redis_prefix, media,
                                       private_redis: PrivateRedis) -> None:  # noqa: F811
    world = jobs_world(pg_engine, tmp_path, redis_prefix, private_redis,
                       job_quota_test_per_month=1, job_quota_live_per_month=2)
    with world.client:
        sandbox, live = seed(world, media, is_test=True), seed(world, media)
        first = submit(world, sandbox.body(), key=world.test_key, idempotency="t-1")
        assert first.status_code == 202 and first.json()["is_test"] is True
        refused = submit(world, sandbox.body(controls={"seed": 9}), key=world.test_key)
        assert refused.status_code == 429 and error_code(refused) == "quota_exceeded"
        details = refused.json()["error"]["details"]
        assert (details["limit"], details["used"], details["environment"]) == (1, 1, "test")
        assert 0 < int(refused.headers["Retry-After"]) <= 31 * 86400 + 1
        # A retry of the accepted request creates nothing and is still answered.
        replay = submit(world, sandbox.body(), key=world.test_key, idempotency="t-1")
        assert replay.status_code == 202 and replay.json()["id"] == first.json()["id"]
        # The live quota is counted apart.
        assert [submit(world, live.body(controls={"seed": i})).status_code
                for i in range(3)] == [202, 202, 429]


def test_scopes_and_bad_requests(api: World, media) -> None:
    seeded = seed(api, media)
    narrow = api.headers(api.narrow_key)  # assets:write only
    for response in (api.client.post("/v1/jobs", headers=narrow, json=seeded.body()),
                     api.client.get("/v1/jobs", headers=narrow)):
        assert response.status_code == 403 and error_code(response) == "scope_missing"
    assert api.client.post("/v1/jobs", json=seeded.body()).status_code == 401
    typed = submit(api, seeded.body(controls={"steps": "4"}))
    assert typed.status_code == 422 and error_code(typed) == "control_invalid"
    assert typed.json()["error"]["details"]["field"] == "steps"
    unknown = submit(api, seeded.body(colour="blue"))
    assert unknown.status_code == 422 and error_code(unknown) == "request_invalid"
    swapped = submit(api, seeded.body(portrait_asset_id=seeded.audio_id))
    assert swapped.status_code == 422 and error_code(swapped) == "request_invalid"
    missing = submit(api, seeded.body(subject_id=str(uuid.uuid4())))
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    assert count(api, Job, Job.subject_id == seeded.subject_id) == 0


def test_inline_files_are_validated_stored_and_replayed(api: World, media) -> None:
    seeded = seed(api, media)
    form = {"subject_id": seeded.subject_id, "purpose": "dubbing", "transcript": "Please bring me the blue map.",
            "controls": json.dumps({"steps": 2, "seed": 5})}
    audio = ("line.wav", speech(1.7), "audio/wav")

    def post(portrait: bytes, key: str, *, fields: dict = form, with_audio: bool = True):
        files = {"portrait": ("p.jpg", portrait, "image/jpeg")} | (
            {"audio": audio} if with_audio else {})
        return api.client.post("/v1/jobs", data=fields, files=files,
                               headers=api.headers() | {"Idempotency-Key": key})

    first = post(face("obama2.jpg"), "inline-1")
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["portrait_asset_id"] != seeded.portrait_id and job["controls"]["seed"] == 5
    stored = api.client.get(f"/v1/assets/{job['portrait_asset_id']}", headers=api.headers())
    assert stored.json()["has_face_encoding"] is True and stored.json()["subject_id"] is None
    assets = count(api, Asset, Asset.organisation_id == api.org_id)
    again = post(face("obama2.jpg"), "inline-1")  # a retry: the same job, nothing stored twice
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == job["id"]
    assert count(api, Asset, Asset.organisation_id == api.org_id) == assets
    other_face = post(biden(), "inline-2")
    assert other_face.status_code == 403
    assert other_face.json()["error"]["details"]["reason"] == "face_mismatch"
    not_an_image = post(PDF, "inline-3")
    assert not_an_image.status_code == 415 and error_code(not_an_image) == "upload_type_unsupported"
    no_audio = post(face("obama2.jpg"), "inline-4", with_audio=False)
    assert no_audio.status_code == 422 and no_audio.json()["error"]["details"]["field"] == "audio"
    bad_controls = post(face("obama2.jpg"), "inline-5", fields=form | {"controls": "{steps"})
    assert bad_controls.status_code == 422 and error_code(bad_controls) == "request_invalid"


def test_sealed_portraits_pass_the_gate_at_submit_and_at_the_workers_recheck(api: World) -> None:
    """Everything over HTTP (so every encoding is sealed by the app): the right person's
    portrait is accepted at submission and again by the gate a worker holds (its own key box,
    read from the same deployment key); another person's is refused at both; a portrait whose
    sealed encoding was copied from the reference is refused as ``face_mismatch``."""
    from service.jobs import GateRequest, GateStage, make_celery
    from service.jobs.gate import check_consent as worker_check

    subject = registered_subject(api)  # obama.jpg as the reference
    approved = api.client.post(f"/v1/consents/{subject['consents'][0]['id']}/approve",
                               headers=api.officer(),
                               json={"purposes": ["dubbing"], "expires_at": expiry(10)})
    assert approved.status_code == 200, approved.text
    audio = upload(api, speech(1.7), "audio", filename="line.wav",
                   content_type="audio/wav").json()["id"]
    right, other = (upload(api, data).json()["id"] for data in (face("obama2.jpg"), biden()))
    body = {"subject_id": subject["id"], "purpose": "dubbing", "audio_asset_id": audio,
            "transcript": "Please bring me the blue map.", "controls": {"steps": 2}}
    accepted = submit(api, body | {"portrait_asset_id": right})
    assert accepted.status_code == 202, accepted.text
    refused = submit(api, body | {"portrait_asset_id": other})
    assert refused.status_code == 403 and refused.json()["error"]["details"]["reason"] \
        == "face_mismatch"

    celery = make_celery(api.settings)  # a worker's app: its gate is the application's own
    try:
        def at_run(portrait: str) -> GateRequest:
            return GateRequest(api.org_id, uuid.UUID(subject["id"]), "dubbing",
                               uuid.UUID(portrait), uuid.UUID(audio), False,
                               datetime.now(UTC), GateStage.RUN)

        def recheck(portrait: str) -> uuid.UUID:  # what the worker's task does before rendering
            with Session(api.engine) as session:
                return worker_check(session, celery.consent_gate, at_run(portrait))

        job = accepted.json()
        assert recheck(job["portrait_asset_id"]) == uuid.UUID(job["consent_id"])
        with pytest.raises(ConsentRefused) as another:
            recheck(other)
        assert another.value.context["reason"] == "face_mismatch"
        with Session(api.engine) as session:  # Obama's reference ciphertext on Biden's row
            reference = session.get(Asset, uuid.UUID(subject["reference_asset_ids"][0]))
            session.get(Asset, uuid.UUID(other)).face_encoding = reference.face_encoding
            session.commit()
        with pytest.raises(ConsentRefused) as moved:
            recheck(other)
        assert moved.value.context["reason"] == "face_mismatch"
        with Session(api.engine) as session:
            decision = celery.consent_gate(session, at_run(other))
        assert decision.face.distance is None and "does not decrypt" in decision.message
    finally:
        celery.close()
    moved_submit = submit(api, body | {"portrait_asset_id": other})
    assert moved_submit.status_code == 403
    assert moved_submit.json()["error"]["details"]["reason"] == "face_mismatch"


# Released long ago, so a sweep at RELEASED + 31 days touches no other test's artifact.
RELEASED = datetime(2020, 1, 1, tzinfo=UTC)


def test_a_video_deleted_by_retention_is_gone_410_and_the_job_says_when(api: World,
                                                                        media) -> None:
    job = submit(api, seed(api, media).body()).json()
    video = b"signed mp4 bytes " + uuid.uuid4().bytes
    store = LocalBlobStore(api.settings.blob_root)
    with Session(api.engine) as session:  # what the worker does when the job succeeds
        row = session.get(Job, uuid.UUID(job["id"]))
        row.state = JobState.SUCCEEDED
        stored = store.put_bytes(video)
        asset_id = uuid.uuid4().hex[:14]
        register_artifact(session, asset_id, stored.sha256, job=row, now=RELEASED,
                          created_by=AuditContext(actor="system:test-worker"))
        session.commit()
    path = f"/v1/jobs/{job['id']}/video"
    assert api.client.get(path, headers=api.headers()).content == video

    purged_at = RELEASED + timedelta(days=31)
    with Session(api.engine) as session:
        purged = purge_expired_artifacts(session, AuditContext(actor="system:retention"),
                                         store, retention_days=30, now=purged_at)
        session.commit()
    assert purged  # ours among them

    gone = api.client.get(path, headers=api.headers())
    assert gone.status_code == 410 and error_code(gone) == "artifact_purged"
    error = gone.json()["error"]
    assert "2020-02-01" in error["message"] and "registry" in error["message"]
    assert error["details"]["asset_id"] == asset_id
    status = api.client.get(f"/v1/jobs/{job['id']}", headers=api.headers()).json()
    assert status["state"] == "succeeded" and status["artifact_asset_id"] == asset_id
    assert status["artifact_purged_at"].startswith("2020-02-01")
    assert status["links"]["video"] is None  # nothing left to download


def test_a_reference_that_no_longer_opens_is_a_409_naming_it(api: World, media, caplog) -> None:
    seeded = seed(api, media)
    owner, box = Owner(api.org_id, False), TemplateBox.from_settings(api.settings)
    with Session(api.engine) as session:  # a second reference, then another row's ciphertext
        second = new_asset_row(LocalBlobStore(api.settings.blob_root), owner, media["obama2"],
                               subject_id=uuid.UUID(seeded.subject_id), now=NOW,
                               is_reference=True, box=box)
        session.add(second)
        session.flush()
        second.face_encoding = session.get(Asset, uuid.UUID(seeded.portrait_id)).face_encoding
        second_id = str(second.id)
        session.commit()
    with caplog.at_level("ERROR"):
        response = submit(api, seeded.body())
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "subject_reference_unreadable"
    assert error["details"]["asset_ids"] == [second_id] and second_id in error["message"]
    assert any(second_id in r.getMessage() for r in caplog.records)  # for operators
    assert count(api, Job, Job.subject_id == seeded.subject_id) == 0


def test_keys_that_open_nothing_are_a_503_and_previous_keys_open(api: World, media,
                                                                 caplog) -> None:
    """Every encoding of the subject sealed under a key this deployment does not have (one
    in the version-1 form, which names no key): the operator's error, not the partner's."""
    from pydantic import SecretStr

    from service.api.app import create_app

    seeded, retired = seed(api, media), b"r" * 32
    box = TemplateBox.from_settings(api.settings)
    with Session(api.engine) as session:
        rows = session.scalars(select(Asset).where(
            (Asset.subject_id == uuid.UUID(seeded.subject_id))
            | (Asset.id == uuid.UUID(seeded.portrait_id))))
        for i, row in enumerate(rows):
            encoding = box.open_portrait(row.id, row.organisation_id, row.face_encoding)
            row.face_encoding = portrait_version_1(retired, row.id, row.organisation_id,
                                                   encoding) if i % 2 else \
                TemplateBox(retired).seal_portrait(row.id, row.organisation_id, encoding)
        session.commit()
    with caplog.at_level("ERROR"):
        response = submit(api, seeded.body())
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "sealing_key_mismatch" and error["details"] == {}
    assert retired.hex() not in response.text and retired.hex() not in caplog.text
    assert "sealing_key_mismatch" in caplog.text

    rotated = api.settings.model_copy(
        update={"face_template_previous_keys": SecretStr(retired.hex())})
    with TestClient(create_app(rotated, engine=api.engine),
                    base_url="https://testserver") as client:
        accepted = client.post("/v1/jobs", headers=api.headers(), json=seeded.body())
    assert accepted.status_code == 202, accepted.text


def test_submitted_over_http_rendered_by_the_worker_and_downloaded(api: World, tmp_path) -> None:
    """The whole path with real parts: uploads, registration and review over HTTP, the worker's
    task function (lease, consent re-check, model, watermark, C2PA, storage) run in-process,
    then the signed file downloaded and verified. Revoking the consent while a second job
    waits in the queue cancels that job; the worker's delivery of it renders nothing."""
    from service import keys
    from service.jobs import run_job
    from service.jobs.runtime import build_runtime
    from service.keys import init_development_keys
    from service.release import verify_video
    from service.release.verify import SIGNED_INTACT

    subject = registered_subject(api)  # obama.jpg as the reference; the consent is pending
    consent_id = subject["consents"][0]["id"]
    approved = api.client.post(f"/v1/consents/{consent_id}/approve", headers=api.officer(),
                               json={"purposes": ["dubbing"], "expires_at": expiry(10)})
    assert approved.status_code == 200, approved.text
    portrait = upload(api, face("obama2.jpg"), subject_id=subject["id"]).json()
    audio = upload(api, speech(1.7), "audio", filename="line.wav",
                   content_type="audio/wav").json()
    body = {"subject_id": subject["id"], "purpose": "dubbing", "portrait_asset_id": portrait["id"],
            "audio_asset_id": audio["id"], "transcript": "Please bring me the blue map.",
            "controls": {"steps": 2, "seed": 3}}
    first, second = (submit(api, body | {"controls": {"steps": 2, "seed": seed}}).json()
                     for seed in (3, 4))
    assert first["state"] == second["state"] == "queued"

    init_development_keys(api.settings)
    settings = api.settings.model_copy(update={
        "database_url": api.engine.url.render_as_string(hide_password=False), "device": "cpu"})
    runtime = build_runtime(settings)  # the application's gate: no gate argument
    try:
        outcome = run_job(runtime, uuid.UUID(first["id"]))
        assert outcome.outcome == "succeeded", outcome
        revoked = api.client.post(f"/v1/consents/{consent_id}/revoke", headers=api.officer(),
                                  json={"reason": "the actor withdrew consent"})
        assert revoked.status_code == 200, revoked.text
        stopped = run_job(runtime, uuid.UUID(second["id"]))
    finally:
        runtime.close()

    done = api.client.get(first["links"]["self"], headers=api.headers()).json()
    assert (done["state"], done["progress"], done["error"]) == ("succeeded", 1.0, None)
    assert done["artifact_asset_id"] == outcome.asset_id
    assert done["timings"]["running_seconds"] > 0
    video = api.client.get(done["links"]["video"], headers=api.headers())
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = tmp_path / "downloaded.mp4"
    path.write_bytes(video.content)
    report = verify_video(path, keys.watermark_key(settings), keys.trust_anchors(settings))
    assert report.verdict_code == SIGNED_INTACT
    assert report.asset_id == done["artifact_asset_id"] == video.headers["X-Likeness-Asset-Id"]

    assert (stopped.outcome, stopped.state) == ("skipped", "cancelled")
    failed = api.client.get(second["links"]["self"], headers=api.headers()).json()
    assert failed["state"] == "cancelled" and failed["attempts"] == 0
    assert failed["artifact_asset_id"] is None and failed["links"]["video"] is None
