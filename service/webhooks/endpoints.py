"""A partner's webhook endpoints: register (the secret is shown once), list, delete, send a
test event, and read recent deliveries. Each change is an audit event.

An endpoint belongs to the organisation and the environment (test/live) of the key that made
it, and is invisible (404) to anyone else. Its URL passes the SSRF guard at registration; the
delivery re-checks the addresses on every connection (``service.webhooks.ssrf``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from service.db.types import new_id, utcnow
from service.domain.assets import Owner
from service.errors import NotFound, RequestInvalid
from service.webhooks.events import TEST_EVENT, check_event_types, queue_delivery, thin_payload
from service.webhooks.secrets import SecretBox
from service.webhooks.signing import new_secret
from service.webhooks.ssrf import UrlGuard

MAX_ENDPOINTS = 20  # per organisation and environment: bounds the fan-out of one event


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # "whsec_...": returned to the partner this once, stored only encrypted


def create_endpoint(session: Session, context: AuditContext, *, owner: Owner, url: str,
                    event_types: list[str], description: str | None,
                    created_by_key_id: uuid.UUID | None, guard: UrlGuard, box: SecretBox,
                    now: datetime | None = None) -> CreatedEndpoint:
    now = now or utcnow()
    target = guard.check(url.strip())
    types = check_event_types(event_types)
    count = session.scalar(select(func.count()).select_from(WebhookEndpoint).where(
        *_owned(owner), WebhookEndpoint.deleted_at.is_(None)))
    if count and count >= MAX_ENDPOINTS:
        raise RequestInvalid(f"an organisation may have at most {MAX_ENDPOINTS} webhook "
                             "endpoints; delete one first", field="url", limit=MAX_ENDPOINTS)
    endpoint_id, secret = new_id(), new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id, organisation_id=owner.organisation_id, url=target.url,
        description=description, secret_ciphertext=box.seal(endpoint_id, secret),
        event_types=types, is_test=owner.is_test, created_at=now,
        created_by_key_id=created_by_key_id)
    session.add(endpoint)
    session.flush()
    record(session, context, "webhooks:endpoint:create", f"webhook_endpoint:{endpoint.id}",
           now=now, payload={"organisation_id": str(owner.organisation_id), "url": target.url,
                             "event_types": types, "is_test": owner.is_test})
    return CreatedEndpoint(endpoint, secret)


def _owned(owner: Owner) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (WebhookEndpoint.organisation_id == owner.organisation_id,
            WebhookEndpoint.is_test == owner.is_test)


def list_endpoints(session: Session, owner: Owner) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(
        *_owned(owner), WebhookEndpoint.deleted_at.is_(None)).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, owner: Owner, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.deleted_at is not None \
            or endpoint.organisation_id != owner.organisation_id \
            or endpoint.is_test != owner.is_test:
        raise NotFound(f"no webhook endpoint {endpoint_id}", resource="webhook_endpoint",
                       id=str(endpoint_id))
    return endpoint


def delete_endpoint(session: Session, context: AuditContext, *, owner: Owner,
                    endpoint_id: uuid.UUID, now: datetime | None = None) -> None:
    """Stop deliveries to it (pending ones fail now); the row stays for the history."""
    now = now or utcnow()
    endpoint = get_endpoint(session, owner, endpoint_id)
    endpoint.deleted_at = now
    cancelled = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id,
               WebhookDelivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.FAILED, last_error="endpoint deleted")).rowcount
    session.flush()
    record(session, context, "webhooks:endpoint:delete", f"webhook_endpoint:{endpoint.id}",
           now=now, payload={"organisation_id": str(owner.organisation_id),
                             "pending_cancelled": cancelled})


def send_test_event(session: Session, context: AuditContext, *, owner: Owner,
                    endpoint_id: uuid.UUID, now: datetime | None = None) -> WebhookDelivery:
    """Queue a ``webhook.test`` delivery to one endpoint (sent by the next delivery pass)."""
    now = now or utcnow()
    endpoint = get_endpoint(session, owner, endpoint_id)
    body = thin_payload(TEST_EVENT, now, endpoint_id=str(endpoint.id))
    delivery = queue_delivery(session, endpoint.id, TEST_EVENT, body, now)
    session.flush()
    record(session, context, "webhooks:endpoint:test", f"webhook_endpoint:{endpoint.id}",
           now=now, payload={"delivery_id": str(delivery.id)})
    return delivery


def list_deliveries(session: Session, owner: Owner, endpoint_id: uuid.UUID,
                    limit: int) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first."""
    endpoint = get_endpoint(session, owner, endpoint_id)
    return list(session.scalars(select(WebhookDelivery)
                                .where(WebhookDelivery.endpoint_id == endpoint.id)
                                .order_by(WebhookDelivery.id.desc()).limit(limit)))
