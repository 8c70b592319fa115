"""One router per resource. ``ROUTERS`` is what ``create_app`` mounts: a new resource (jobs,
webhooks, verification) adds its router to this tuple."""

from fastapi import APIRouter

from service.api.routes import assets, consents, health, oauth, subjects

ROUTERS: tuple[APIRouter, ...] = (health.router, oauth.router, assets.router, subjects.router,
                                  consents.router)

__all__ = ["ROUTERS"]
