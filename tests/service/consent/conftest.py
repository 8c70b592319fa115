"""Shared pieces for the consent-request tests: the partner API world of ``tests.service.api``
(real PostgreSQL, real Redis), a subject registered without evidence, audit reads after
sequencing, small synthetic clips for the door checks, and a real Celery worker process that
verifies evidence (``verifier``)."""

from __future__ import annotations

import io
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import numpy as np
import pytest
from redis import Redis
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from service.audit.sequencer import sequence_pending
from service.db import make_engine
from service.db.migrate import upgrade_database
from service.db.models import AuditEventRow, ConsentRequest
from service.keys import init_development_keys
from service.settings import Settings
from tests.service.api.conftest import (  # noqa: F401  (fixtures, re-exported for this package)
    World,
    api,
    build_world,
    expiry,
    face,
    make_settings,
    pg_engine,
    redis_prefix,
    upload,
)
from tests.service.jobs.conftest import WorkerProcess, wait_for, worker_env

if TYPE_CHECKING:  # the clips load the model: only the tests that use them pay for it
    from tests.consent_clips import ConsentClips

BROKER_URL = "redis://127.0.0.1:6379/14"


def bare_subject(world: World, portrait: bytes | None = None, key: str | None = None,
                 name: str = "Ada Actor") -> dict:
    """A subject registered with a reference portrait and no evidence: no consent yet."""
    asset = upload(world, portrait or face("obama.jpg"), key=key)
    assert asset.status_code == 201, asset.text
    response = world.client.post("/v1/subjects", headers=world.headers(key),
                                 data={"display_name": name,
                                       "reference_asset_ids": [asset.json()["id"]]})
    assert response.status_code == 201, response.text
    assert response.json()["consents"] == []
    return response.json()


def audit_events(engine: Engine, resource: str) -> list[AuditEventRow]:
    sequence_pending(engine)
    with Session(engine) as session:
        return list(session.scalars(select(AuditEventRow).where(
            AuditEventRow.resource == resource).order_by(AuditEventRow.seq)))


def synthetic_clip(seconds: float, *, fmt: str = "webm", audio: bool = True,
                   video: bool = True, size: int = 96) -> bytes:
    """A tiny clip (grey frames, silence) for the door checks: format, streams, duration."""
    vcodec, acodec = ("libvpx", "libopus") if fmt == "webm" else ("libx264", "aac")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        vstream = container.add_stream(vcodec, rate=25) if video else None
        if vstream is not None:
            vstream.width = vstream.height = size
            vstream.pix_fmt = "yuv420p"
        astream = container.add_stream(acodec, rate=48000) if audio else None
        if astream is not None:
            astream.layout = "mono"
        for index in range(int(seconds * 25)):
            if vstream is not None:
                frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 128, np.uint8),
                                                   format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, 25)
                container.mux(vstream.encode(frame))
            if astream is not None:
                sound = av.AudioFrame.from_ndarray(np.zeros((1, 1920), np.float32),
                                                   format="flt", layout="mono")
                sound.sample_rate, sound.pts, sound.time_base = 48000, index * 1920, \
                    Fraction(1, 48000)
                container.mux(astream.encode(sound))
        for stream in (vstream, astream):
            if stream is not None:
                container.mux(stream.encode(None))
    return buffer.getvalue()


# -- a real worker verifying consent evidence ---------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """The partner API (``world``) and a real Celery worker process sharing a PostgreSQL
    database, the blob store and the keys (one data directory) and a Redis queue of this
    session's own."""

    world: World
    settings: Settings
    worker: WorkerProcess

    def wait_decided(self, request_id: str, timeout: float = 120) -> dict:
        """Watch the table (not the API: polling would spend the key's rate limit), then
        answer what the partner sees."""
        def decided() -> bool:
            with Session(self.world.engine) as session:
                status = session.scalar(select(ConsentRequest.status).where(
                    ConsentRequest.id == uuid.UUID(request_id)))
            return status not in ("open", "verifying")

        try:
            wait_for(decided, timeout, f"consent request {request_id} to be decided",
                     interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; worker log:\n{self.worker.log()[-4000:]}") from None
        seen = self.world.client.get(f"/v1/consent-requests/{request_id}",
                                     headers=self.world.headers())
        assert seen.status_code == 200, seen.text
        return seen.json()


@pytest.fixture(scope="session")
def verifier(postgres_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    data_dir, logs = tmp_path_factory.mktemp("consent-data"), tmp_path_factory.mktemp("logs")
    queue, prefix = f"consent-test-{secrets.token_hex(4)}", f"likeness-test-{secrets.token_hex(6)}:"
    settings = make_settings(data_dir, prefix, broker_url=BROKER_URL, gpu_queue=queue,
                             database_url=postgres_database("likeness_test_consent"),
                             max_request_bytes=80_000_000,
                             webhook_allowed_networks=("127.0.0.1/32",))
    init_development_keys(settings)  # the worker's release path needs them to start
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    env = worker_env(data_dir, settings.database_url, BROKER_URL, gpu_queue=queue)
    worker = WorkerProcess("verifier", env, logs)
    worker.args = ["--hostname", "verifier@%h"]  # the application's own gate and checks
    worker.start()
    world = build_world(engine, settings)
    try:
        with world.client:
            yield Verifier(world, settings, worker)
    finally:
        worker.stop()
        broker = Redis.from_url(BROKER_URL)
        broker.delete(queue)
        broker.close()
        engine.dispose()


# -- consent clips pinned to requests ------------------------------------------------------


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ConsentClips:
    """Obama reading the challenge; the partner's reference portrait is obama2.jpg."""
    from tests.consent_clips import ConsentClips

    return ConsentClips(tmp_path_factory.mktemp("consent-clips"))


def pinned_request(verifier: Verifier, clips: ConsentClips, *, reference: bytes | None = None,
                   **ask: object) -> tuple[dict, str]:
    """A request for a new subject (reference portrait: obama2.jpg unless given), pinned to
    the clips' challenge."""
    world = verifier.world
    subject = bare_subject(world, reference or face("obama2.jpg"), name="Barack Obama")
    body = {"purposes": ["education"], "expires_at": expiry(60)} | ask
    created = world.client.post(f"/v1/subjects/{subject['id']}/consent-requests", json=body,
                                headers=world.headers())
    assert created.status_code == 201, created.text
    request = created.json()
    with Session(world.engine) as session:
        session.execute(update(ConsentRequest).where(ConsentRequest.id == request["id"])
                        .values(challenge=clips.challenge.to_json(),
                                prompt_schedule=clips.schedule.to_json(),
                                script=clips.challenge.script))
        session.commit()
    return request, request["capture_url"].rsplit("/capture/", 1)[1]


def timeline(clips: ConsentClips, moved: dict[str, float] | None = None) -> str:
    """What the page reports: each prompt shown at its moment (or where ``moved`` says)."""
    shown = [{"id": p.id, "shown_at": (moved or {}).get(p.id, p.at_seconds + 0.02)}
             for p in clips.schedule.prompts]
    return json.dumps({"prompts": shown, "mime_type": "video/mp4"})


def capture(verifier: Verifier, token: str, data: bytes, reported: str) -> None:
    client = verifier.world.client
    assert client.post(f"/capture/{token}/start").status_code == 200
    sent = client.post(f"/capture/{token}/recording", data={"timeline": reported},
                       files={"recording": ("consent.mp4", data, "video/mp4")})
    assert sent.status_code == 202, sent.text
