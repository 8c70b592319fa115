"""Webhooks: partners hear when their jobs end, signed per the Standard Webhooks spec.

    job code --enqueue_job_event--> webhook_deliveries (same transaction as the state change)
    deliver_due (Celery beat or a loop) --claim--> sign --POST via the SSRF guard--> record
                                                   \\-- non-2xx: backoff + jitter, then failed

- ``events``: thin payloads and ``enqueue_job_event(session, job, event_type)``;
- ``endpoints``: register (secret shown once), list, delete, test event, deliveries;
- ``signing``: ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` and the
  receiver-side ``verify_delivery``;
- ``secrets``: the secrets encrypted at rest (they must be recoverable to sign with);
- ``ssrf``: the URL and address checks, enforced again at connect time;
- ``delivery``: ``deliver_due(session_factory, now, client, config)``.
"""

from service.webhooks.delivery import (
    DeliveryConfig,
    DeliveryRun,
    RetryPolicy,
    WebhookClient,
    deliver_due,
)
from service.webhooks.events import (
    JOB_CANCELLED,
    JOB_EVENTS,
    JOB_FAILED,
    JOB_SUCCEEDED,
    TEST_EVENT,
    enqueue_job_event,
)
from service.webhooks.secrets import SecretBox
from service.webhooks.signing import sign, verify_delivery
from service.webhooks.ssrf import UrlGuard

__all__ = [
    "JOB_CANCELLED", "JOB_EVENTS", "JOB_FAILED", "JOB_SUCCEEDED", "TEST_EVENT", "DeliveryConfig",
    "DeliveryRun", "RetryPolicy", "SecretBox", "UrlGuard", "WebhookClient", "deliver_due",
    "enqueue_job_event", "sign", "verify_delivery",
]
