"""What a worker process holds for its whole life: the loaded model (through the release path),
its database sessions, the blob store and the consent gate. Built once per process - loading
the model per task would cost more than many renders."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from model.audio.features import AudioLimits
from model.pipeline import TalkingHeadPipeline, default_device
from service.db.audit import AuditContext
from service.db.engine import make_engine, make_session_factory
from service.jobs.consent import real_gate
from service.jobs.gate import ConsentGate
from service.release import ReleasePath
from service.settings import Settings
from service.storage import BlobStore, make_blob_store


@dataclass(frozen=True)
class WorkerRuntime:
    settings: Settings
    device: str
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    release: ReleasePath
    gate: ConsentGate  # asked again before each render (consent may change while queued)
    context: AuditContext  # the worker as an audit actor

    def close(self) -> None:
        self.engine.dispose()


def resolve_device(settings: Settings) -> str:
    """The configured device, else the first CUDA device, else the CPU."""
    return settings.device or default_device()


def build_runtime(settings: Settings, gate: ConsentGate | None = None) -> WorkerRuntime:
    """The model on its device, the keys (``KeysMissing`` fails a worker at start, not per
    task), the database, the blob store and the consent gate (the application's own,
    ``real_gate``, unless one is given)."""
    device = resolve_device(settings)
    pipeline = TalkingHeadPipeline.from_pretrained(
        device=device, audio_limits=AudioLimits(max_seconds=settings.max_audio_seconds))
    release = ReleasePath.from_settings(settings, pipeline=pipeline)
    engine = make_engine(settings.database_url)
    return WorkerRuntime(settings, device, engine, make_session_factory(engine),
                         make_blob_store(settings), release,
                         gate if gate is not None else real_gate(settings),
                         AuditContext(actor=f"system:worker:{socket.gethostname()[:100]}"))
