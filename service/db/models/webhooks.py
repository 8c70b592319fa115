"""Webhook endpoints a partner registers, and the deliveries queued for them.

An endpoint belongs to one organisation and one environment (a test key's endpoint receives
only sandbox events). Its signing secret is stored encrypted (``secret_ciphertext``, see
``service.webhooks.secrets``): the service must recover it to compute each HMAC. A delivery
row is written in the same transaction as the event it reports (a job finishing) and sent
later by ``service.webhooks.delivery.deliver_due``; its body is stored as sent, so every retry
carries the same bytes under the same ``webhook-id``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base
from service.db.types import new_id, str_enum, utcnow


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt (``next_attempt_at``)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # attempts exhausted, or the endpoint was deleted


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(200))
    # AES-256-GCM over the raw secret, bound to this row's id (see service.webhooks.secrets).
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    event_types: Mapped[list[str]]
    is_test: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    # Deleted endpoints are kept (their deliveries refer to them) but receive nothing.
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    # Also the ``webhook-id`` header: the receiver's idempotency key across retries.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id"),
                                                   index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    body: Mapped[str] = mapped_column(Text)  # the JSON exactly as signed and sent
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus, "delivery_status"),
                                                   default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    endpoint: Mapped[WebhookEndpoint] = relationship()
