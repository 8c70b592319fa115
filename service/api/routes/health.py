"""Liveness and readiness. ``/healthz``: the process answers. ``/readyz``: the database is
reachable and migrated to this code's head, Redis answers, and the face models load (the
upload validation needs them); 503 with each check's result otherwise."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from model.errors import WeightsError
from model.face.dlib_models import face_detector, face_encoder, landmark_predictor
from service.api.deps import ApiServices, ServicesDep
from service.api.schemas import CheckResult, ReadyReport

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyReport)
def readyz(services: ServicesDep) -> JSONResponse:
    report = ReadyReport(ready=False, database=_database(services), redis=_redis(services),
                         face_models=_face_models())
    report.ready = report.database.ok and report.redis.ok and report.face_models.ok
    return JSONResponse(report.model_dump(), status_code=200 if report.ready else 503)


def _database(services: ApiServices) -> CheckResult:
    try:
        with services.engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        return CheckResult(ok=False, detail=f"unreachable or not migrated: {type(exc).__name__}")
    head = services.migration_head
    if version != head:
        return CheckResult(ok=False, detail=f"schema at {version}, code expects {head}")
    return CheckResult(ok=True)


def _redis(services: ApiServices) -> CheckResult:
    if services.redis is None:
        return CheckResult(ok=True, detail="not used: embedded mode, in-process rate limits")
    try:
        services.redis.ping()
    except RedisError as exc:
        return CheckResult(ok=False, detail=f"unreachable: {type(exc).__name__}")
    return CheckResult(ok=True)


def _face_models() -> CheckResult:
    try:
        face_detector(), landmark_predictor(), face_encoder()  # cached after the first load
    except (WeightsError, RuntimeError) as exc:
        return CheckResult(ok=False, detail=str(exc))
    return CheckResult(ok=True)
