"""One router per resource. ``ROUTERS`` is what ``create_app`` mounts: a new resource (jobs,
webhooks, verification) adds its router to this tuple."""

from fastapi import APIRouter

from service.api.routes import (
    assets,
    consents,
    health,
    jobs,
    metrics,
    oauth,
    reports,
    subjects,
    verify,
    webhooks,
)

ROUTERS: tuple[APIRouter, ...] = (health.router, oauth.router, assets.router, subjects.router,
                                  consents.router, jobs.router, webhooks.router, verify.router,
                                  reports.router, metrics.router)

__all__ = ["ROUTERS"]
