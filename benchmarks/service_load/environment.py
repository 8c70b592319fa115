"""The run's surroundings: settings, a throwaway PostgreSQL database, this run's Redis keys,
and the machine and server versions the report names."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.db.engine import make_engine
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/likeness_bench"
REDIS_HOST = "redis://127.0.0.1:6379"


def bench_settings(data_dir: Path, database_url: str, token: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url,
                    redis_url=f"{REDIS_HOST}/14", redis_key_prefix=f"likeness-bench-{token}:",
                    broker_url=f"{REDIS_HOST}/13", gpu_queue=f"likeness-bench-{token}",
                    rate_limit_per_minute=10_000_000, job_quota_live_per_month=10_000_000,
                    device="cpu", maintenance_interval_seconds=1.0)


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as ``LIKENESS_*`` variables, for the API and worker subprocesses."""
    env = dict(os.environ)
    for name in ("data_dir", "database_url", "redis_url", "redis_key_prefix", "broker_url",
                 "gpu_queue", "rate_limit_per_minute", "job_quota_live_per_month", "device",
                 "maintenance_interval_seconds"):
        env[f"LIKENESS_{name.upper()}"] = str(getattr(settings, name))
    return env


def _admin_engine(url: str):
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def create_database(url: str) -> None:
    name = make_url(url).database
    engine = _admin_engine(url)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop_database(url: str) -> None:
    engine = _admin_engine(url)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def clean_redis(settings: Settings, broker_keys_before: set[bytes]) -> None:
    """Only this run's keys: the limiter's prefix in DB 14, new kombu keys in DB 13."""
    with Redis.from_url(settings.redis_url) as limits:
        keys = list(limits.scan_iter(match=f"{settings.redis_key_prefix}*"))
        if keys:
            limits.delete(*keys)
    with Redis.from_url(settings.broker_url) as broker:
        new = set(broker.keys("*")) - broker_keys_before
        if new:
            broker.delete(*new)


def purge_queue(settings: Settings) -> int:
    with Redis.from_url(settings.broker_url) as broker:
        waiting = broker.llen(settings.gpu_queue)
        broker.delete(settings.gpu_queue)
    return int(waiting)


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    return {"cpu": cpu, "cores": str(os.cpu_count()), "os": platform.platform(),
            "python": platform.python_version()}


def versions(settings: Settings) -> dict[str, str]:
    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        postgres = connection.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    with Redis.from_url(settings.redis_url) as redis:
        return {"postgresql": str(postgres), "redis": str(redis.info()["redis_version"])}
