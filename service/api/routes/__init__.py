"""One router per resource. ``ROUTERS`` is what ``create_app`` mounts: a new resource (jobs,
webhooks, verification) adds its router to this tuple."""

from fastapi import APIRouter

from service.api.routes import (
    assets,
    audit,
    audit_query,
    capture,
    consent_requests,
    consents,
    erasure,
    health,
    jobs,
    metrics,
    oauth,
    portrait_reviews,
    reports,
    subject_page,
    subjects,
    transcript_reviews,
    verify,
    webhooks,
)

ROUTERS: tuple[APIRouter, ...] = (health.router, oauth.router, assets.router, subjects.router,
                                  consents.router, jobs.router, webhooks.router, verify.router,
                                  reports.router, metrics.router, audit.router,
                                  audit_query.router, consent_requests.router, capture.router,
                                  subject_page.router, transcript_reviews.router,
                                  portrait_reviews.router, portrait_reviews.partner_router,
                                  erasure.router)

__all__ = ["ROUTERS"]
