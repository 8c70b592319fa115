"""The partner API's application factory: ``create_app(settings) -> FastAPI``.

Everything is built here from ``Settings``, at call time (no import-time globals): the
database engine, Redis and the rate limiter, the blob store, the API-key pepper and the token
signing key, all kept in one ``ApiServices`` on ``app.state``. Tests (or an embedding
process) may pass their own engine, Redis client or store. More resources plug in by adding
their router to ``service.api.routes.ROUTERS`` (or through ``extra_routers``).

Run it with ``uvicorn --factory service.api.app:app_from_environment --proxy-headers``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI
from redis import Redis
from sqlalchemy import Engine

from service.api.deps import ApiServices
from service.api.errors import install_error_handlers
from service.api.job_services import build_job_services
from service.api.middleware import RequestContextMiddleware
from service.api.ratelimit import MemoryRateLimiter, RateLimiter
from service.api.routes import ROUTERS
from service.audit.personal import AuditKeyring
from service.api.tokens import load_signing_key
from service.audit.runner import SequencerThread
from service.auth.pepper import load_api_key_pepper
from service.db.engine import make_engine, make_session_factory
from service.db.migrate import alembic_config
from service.domain.face_templates import TemplateBox
from service.domain.uploads import UploadLimits
from service.jobs.evidence import make_verification_relay
from service.metrics import ApiMetrics, MetricsMiddleware
from service.settings import Settings
from service.storage import BlobStore, make_blob_store

REDIS_TIMEOUT_S = 2.0


def create_app(settings: Settings, *, engine: Engine | None = None, redis: Redis | None = None,
               store: BlobStore | None = None,
               extra_routers: Iterable[APIRouter] = (),
               freeze_gc_at_startup: bool = False) -> FastAPI:
    """The partner API. ``freeze_gc_at_startup``: for a server process (see ``_freeze_gc``);
    tests build many apps in one process and leave it off."""
    owned_engine, owned_redis = engine is None, redis is None
    engine = engine or make_engine(settings.database_url,
                                   pool_size=settings.database_pool_size)
    if redis is None and settings.redis_url:
        redis = Redis.from_url(settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                               socket_connect_timeout=REDIS_TIMEOUT_S)
    # No Redis URL: the embedded single-process default counts rate limits in memory.
    limiter = (RateLimiter(redis, settings.redis_key_prefix) if redis is not None
               else MemoryRateLimiter())
    services = ApiServices(
        settings=settings, engine=engine, sessions=make_session_factory(engine), redis=redis,
        limiter=limiter,
        store=store or make_blob_store(settings),
        pepper=load_api_key_pepper(settings), signing_key=load_signing_key(settings),
        limits=UploadLimits.from_settings(settings),
        face_box=TemplateBox.from_settings(settings),
        migration_head=ScriptDirectory.from_config(alembic_config()).get_current_head(),
        audit_keyring=AuditKeyring.from_settings(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Events written by requests reach the audit chain from this thread (and from every
        # worker's maintenance loop): writers never wait on the chain themselves.
        sequencer = SequencerThread(services.sessions,
                                    interval=settings.audit_sequencer_interval_seconds,
                                    batch=settings.audit_sequencer_batch).start()
        if freeze_gc_at_startup:
            _freeze_gc()
        yield
        sequencer.stop()
        app.state.jobs.close()
        if owned_redis and redis is not None:
            redis.close()
        if owned_engine:
            engine.dispose()

    app = FastAPI(title="likeness partner API", version="1", lifespan=lifespan)
    app.state.services = services
    app.state.jobs = build_job_services(settings, services.sessions)  # gate + relay
    # Consent evidence is verified by the workers; this sends it after the upload commits.
    app.state.verifications = make_verification_relay(settings, services.sessions,
                                                      app.state.jobs.celery)
    app.state.metrics = ApiMetrics(services.sessions)  # this app's own Prometheus registry
    install_error_handlers(app)
    # Added last, so outermost: it times requests the body cap refuses too.
    app.add_middleware(RequestContextMiddleware, max_request_bytes=settings.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    for router in (*ROUTERS, *extra_routers):
        app.include_router(router)
    return app


def _freeze_gc() -> None:
    """Move everything built at startup out of the cyclic collector's reach.

    The process holds ~370,000 objects once torch, dlib and the app are loaded, and a full
    collection walks them all: ~120 ms with every request on this process stalled, a few times
    a minute under load - the tail of the submit latency (``reports/service/load.md``). Frozen,
    a full collection walks only what requests created since (well under 1 ms). Nothing frozen
    is ever collected as a cycle; startup objects live as long as the process anyway."""
    gc.collect()
    gc.freeze()


def app_from_environment() -> FastAPI:
    """The deployment entry point: settings from ``LIKENESS_*`` variables."""
    return create_app(Settings(), freeze_gc_at_startup=True)
