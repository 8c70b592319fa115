"""Shared pieces for the job tests: a partner with a consenting subject and stored inputs, a
database of each module's own, and a private Redis the tests may stop and start.

The private Redis listens on a free port of its own: fault tests stop it, never the shared
server on 6379. A missing ``redis-server`` binary fails the tests with the command that
installs it; nothing is skipped.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.auth import create_organisation
from service.db import AuditContext, make_engine
from service.db.migrate import upgrade_database
from service.db.models import Asset, AssetKind, Consent, ConsentStatus, Subject
from service.media.audio import load_audio
from service.storage import BlobStore
from tests.conftest import database_url

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "assets" / "samples"
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SETUP = AuditContext(actor="system:test-setup")
INSTALL_REDIS = "apt-get install redis-server"


@dataclass(frozen=True)
class World:
    organisation_id: object
    subject_id: object
    consent_id: object
    portrait_id: object
    audio_id: object


# What the sample speech says (assets/samples/speech.txt). Aligned with pocketsphinx, its first
# sentence ends at 1.30 s and its second at 3.96 s, each followed by a pause: clips of 1.7 s
# and 4.2 s say exactly these words (every job declares its transcript, and workers check it).
FIRST_SENTENCE = "Please bring me the blue map."
TWO_SENTENCES = "Please bring me the blue map. Who will go with Bob and Pam?"


def speech_wav(seconds: float, *, silent: bool = False) -> bytes:
    """The first ``seconds`` of the sample speech (or as much silence) as 16-bit mono WAV."""
    samples, rate = load_audio(SAMPLES / "speech.wav")
    clip = samples[: int(seconds * rate)]
    if silent:
        clip = np.zeros_like(clip)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(clip, -1, 1) * 32767).astype(np.int16).tobytes())
    return buffer.getvalue()


def add_asset(session: Session, blobs: BlobStore, organisation_id, subject_id, kind: AssetKind,
              data: bytes, media_type: str) -> Asset:
    stored = blobs.put_bytes(data)
    asset = Asset(organisation_id=organisation_id, subject_id=subject_id, kind=kind,
                  sha256=stored.sha256, size_bytes=stored.size_bytes, media_type=media_type,
                  storage_key=stored.key)
    session.add(asset)
    session.flush()
    return asset


def seed_world(session: Session, blobs: BlobStore, audio: bytes, *,
               purposes: tuple[str, ...] = ("dubbing",)) -> World:
    """A partner, a subject who approved ``purposes``, a portrait and a speech asset."""
    organisation = create_organisation(session, SETUP, name="Dub Studio",
                                       declared_use_case="film dubbing with actors' consent",
                                       now=T0)
    subject = Subject(organisation_id=organisation.id, display_name="Ada",
                      external_ref=f"contract-{secrets.token_hex(4)}", created_at=T0)
    session.add(subject)
    session.flush()
    consent = Consent(subject_id=subject.id, organisation_id=organisation.id,
                      status=ConsentStatus.APPROVED, purposes=list(purposes), expires_at=None,
                      requested_at=T0, reviewed_at=T0)
    session.add(consent)
    portrait = add_asset(session, blobs, organisation.id, subject.id, AssetKind.PORTRAIT,
                         (SAMPLES / "portrait.png").read_bytes(), "image/png")
    speech = add_asset(session, blobs, organisation.id, subject.id, AssetKind.AUDIO, audio,
                       "audio/wav")
    session.flush()
    return World(organisation.id, subject.id, consent.id, portrait.id, speech.id)


def wait_for(condition: Callable[[], object], timeout: float, what: str,
             interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own (no persistence) that it can stop and start."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(f"redis-server is not installed; install it with `{INSTALL_REDIS}`")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_connect_timeout=1)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._pong, 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def _pong(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fresh_engine(backend: str, postgres_database, directory: Path, name: str) -> Engine:
    """A migrated database of one module's own: relays and reapers see every row in it."""
    engine = make_engine(database_url(backend, postgres_database, directory, name))
    upgrade_database(engine)
    return engine


API = AuditContext(actor="api_key:test", request_id="req-test")


def submit_committed(sessions, world: World, *, controls: dict | None = None,
                     audio_id=None, key: str | None = None, now: datetime | None = None,
                     transcript: str | None = None):
    """Submit a job and commit it (as the API does): ``(job_id, outbox_entry_id)``. The
    transcript defaults to the sample's first sentence (what ``speech_wav(1.7)`` says)."""
    from service.db import session_scope
    from service.jobs import submit_job
    from tests.service.jobs.gates import consent_table_gate

    with session_scope(sessions) as session:
        submission = submit_job(session, API, organisation_id=world.organisation_id,
                                subject_id=world.subject_id, purpose="dubbing",
                                portrait_asset_id=world.portrait_id,
                                audio_asset_id=audio_id or world.audio_id,
                                controls=controls or {"steps": 2}, idempotency_key=key,
                                gate=consent_table_gate, now=now,
                                transcript=transcript or FIRST_SENTENCE)
    return submission.job.id, submission.outbox_entry_id


class WorkerProcess:
    """A real Celery worker: ``python -m service.jobs.worker`` in a subprocess of its own."""

    def __init__(self, name: str, settings_env: dict[str, str], log_dir: Path,
                 *args: str) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        # Only the settings given here: nothing leaks in from the developer's environment.
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("LIKENESS_")} | settings_env
        self.args = ["--hostname", f"{name}@%h", "--gate",
                     "tests.service.jobs.gates:consent_table_gate", *args]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> WorkerProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.jobs.worker", *self.args], cwd=ROOT,
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.process.poll() is not None or " ready." in self.log(), timeout,
                 f"worker {self.name} to start")
        if self.process.poll() is not None:
            raise AssertionError(f"worker {self.name} exited at start:\n{self.log()[-4000:]}")
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or the OOM killer takes it."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # Celery's warm shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def worker_env(data_dir: Path, database_url: str, broker_url: str,
               result_backend: str | None = None, **extra: str) -> dict[str, str]:
    """``LIKENESS_*`` variables for a worker: short leases and quick heartbeats for tests."""
    env = {"LIKENESS_DATA_DIR": str(data_dir), "LIKENESS_DATABASE_URL": database_url,
           "LIKENESS_BROKER_URL": broker_url, "LIKENESS_DEVICE": "cpu",
           "LIKENESS_LEASE_SECONDS": "3", "LIKENESS_HEARTBEAT_SECONDS": "0.5",
           "LIKENESS_MAINTENANCE_INTERVAL_SECONDS": "0.5"}
    if result_backend is not None:
        env["LIKENESS_RESULT_BACKEND"] = result_backend
    return env | {f"LIKENESS_{key.upper()}": value for key, value in extra.items()}
