"""A partner's webhook endpoints (scope ``webhooks:manage``): register one (its signing secret
is in this response only), list, read, delete, queue a test event, read recent deliveries.

Deliveries are signed per Standard Webhooks; see ``service.webhooks`` for the headers, the
retry schedule and the URL rules (public http(s) addresses on ports 80/443/8080/8443).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from service.api.deps import ServicesDep, SessionDep, audit_context, owner_of, require_scopes
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.db.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from service.webhooks import JOB_EVENTS, SecretBox, UrlGuard
from service.webhooks.endpoints import (
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    send_test_event,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ManagerDep = Annotated[ApiPrincipal, Depends(require_scopes(Scope.WEBHOOKS_MANAGE))]


class WebhookCreate(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(default_factory=lambda: list(JOB_EVENTS))
    description: str | None = Field(default=None, max_length=200)


class WebhookPublic(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    is_test: bool
    created_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookPublic:
        return cls(id=endpoint.id, url=endpoint.url, description=endpoint.description,
                   event_types=list(endpoint.event_types), is_test=endpoint.is_test,
                   created_at=endpoint.created_at)


class WebhookCreated(WebhookPublic):
    secret: str  # "whsec_...": shown this once; verify deliveries with it


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    webhook_id: str  # the webhook-id header the receiver sees
    event_type: str
    job_id: uuid.UUID | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryPublic:
        pending = delivery.status == DeliveryStatus.PENDING
        return cls(id=delivery.id, webhook_id=f"msg_{delivery.id.hex}",
                   event_type=delivery.event_type, job_id=delivery.job_id,
                   status=delivery.status, attempts=delivery.attempts,
                   next_attempt_at=delivery.next_attempt_at if pending else None,
                   last_status_code=delivery.last_status_code, last_error=delivery.last_error,
                   created_at=delivery.created_at, delivered_at=delivery.delivered_at)


@router.post("", status_code=201, response_model=WebhookCreated)
def create(body: WebhookCreate, request: Request, session: SessionDep, services: ServicesDep,
           partner: ManagerDep) -> WebhookCreated:
    created = create_endpoint(
        session, audit_context(request, partner), owner=owner_of(partner), url=body.url,
        event_types=body.event_types, description=body.description,
        created_by_key_id=partner.api_key_id, guard=UrlGuard.from_settings(services.settings),
        box=SecretBox.from_settings(services.settings))
    return WebhookCreated(**WebhookPublic.of(created.endpoint).model_dump(),
                          secret=created.secret)


@router.get("", response_model=list[WebhookPublic])
def list_all(session: SessionDep, partner: ManagerDep) -> list[WebhookPublic]:
    return [WebhookPublic.of(e) for e in list_endpoints(session, owner_of(partner))]


@router.get("/{endpoint_id}", response_model=WebhookPublic)
def read(endpoint_id: uuid.UUID, session: SessionDep, partner: ManagerDep) -> WebhookPublic:
    return WebhookPublic.of(get_endpoint(session, owner_of(partner), endpoint_id))


@router.delete("/{endpoint_id}", status_code=204)
def delete(endpoint_id: uuid.UUID, request: Request, session: SessionDep,
           partner: ManagerDep) -> Response:
    delete_endpoint(session, audit_context(request, partner), owner=owner_of(partner),
                    endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/test", status_code=202, response_model=DeliveryPublic)
def send_test(endpoint_id: uuid.UUID, request: Request, session: SessionDep,
              partner: ManagerDep) -> DeliveryPublic:
    """Queue a ``webhook.test`` event; the next delivery pass sends it."""
    return DeliveryPublic.of(send_test_event(session, audit_context(request, partner),
                                             owner=owner_of(partner), endpoint_id=endpoint_id))


@router.get("/{endpoint_id}/deliveries", response_model=list[DeliveryPublic])
def deliveries(endpoint_id: uuid.UUID, session: SessionDep, partner: ManagerDep,
               limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[DeliveryPublic]:
    return [DeliveryPublic.of(d)
            for d in list_deliveries(session, owner_of(partner), endpoint_id, limit)]
