"""The monthly job quota of a partner organisation, counted in the jobs table.

The count is the quota's state, so it survives restarts and is shared by every API process
with no extra store: the jobs an organisation created since the start of the calendar month
(UTC), live and test (sandbox) counted apart, each against its own limit from settings. Every
job row counts whatever became of it - a cancelled or failed job still took a place in the
queue - while a request the consent gate refused writes no row and costs nothing.

The check runs in the submitting transaction just before the job row is written. On
PostgreSQL it first takes a transaction-scoped advisory lock per (organisation, environment),
so two concurrent submissions cannot both see the last free place; SQLite serialises writers
already (``BEGIN IMMEDIATE``). The caller skips the check for a retried request whose
``Idempotency-Key`` already names a job: it creates nothing (``queries.job_for_key``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Job
from service.errors import QuotaExceeded
from service.settings import Settings

_BIGINT = 1 << 63


@dataclass(frozen=True)
class QuotaUse:
    limit: int
    used: int  # jobs already created this month, before the one being submitted
    resets_at: datetime  # the start of next month (UTC)


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The start of ``now``'s calendar month and of the next one, in UTC."""
    now = now.astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start.replace(year=start.year + 1, month=1) if start.month == 12
                 else start.replace(month=start.month + 1))
    return start, following


def quota_limit(settings: Settings, is_test: bool) -> int:
    return settings.job_quota_test_per_month if is_test else settings.job_quota_live_per_month


def reserve_quota(session: Session, *, organisation_id: uuid.UUID, is_test: bool, limit: int,
                  now: datetime) -> QuotaUse:
    """Check that one more job fits this month; ``QuotaExceeded`` (with ``retry_after``, the
    seconds until the month ends) otherwise. Call in the transaction that writes the job."""
    _lock(session, organisation_id, is_test)
    start, resets_at = month_bounds(now)
    used = session.scalar(select(func.count()).select_from(Job).where(
        Job.organisation_id == organisation_id, Job.is_test.is_(is_test),
        Job.created_at >= start)) or 0
    if used >= limit:
        retry_after = max(1, int((resets_at - now).total_seconds()) + 1)
        raise QuotaExceeded(
            f"the {'test' if is_test else 'live'} job quota of {limit} per month is used up; "
            f"it resets at {resets_at.isoformat()}", limit=limit, used=used,
            environment="test" if is_test else "live", resets_at=resets_at,
            retry_after=retry_after)
    return QuotaUse(limit, used, resets_at)


def _lock(session: Session, organisation_id: uuid.UUID, is_test: bool) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    # A signed 64-bit key from the organisation id, flipped per environment.
    key = (organisation_id.int ^ int(is_test)) % _BIGINT
    session.execute(select(func.pg_advisory_xact_lock(key)))
