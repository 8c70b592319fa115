"""Standard Webhooks signatures (https://www.standardwebhooks.com), both sides.

A delivery carries three headers:

    webhook-id:        the delivery's id (the same on every retry: the receiver's dedup key)
    webhook-timestamp: Unix seconds when this attempt was signed
    webhook-signature: "v1,<base64 HMAC-SHA256(secret, f'{id}.{timestamp}.{body}')>"

The secret is shown to the partner once as ``whsec_<base64 of 32 random bytes>``; the HMAC
key is the decoded bytes. ``verify_delivery`` is what a receiver runs (our tests do): it
accepts any of several space-separated signatures (secret rotation), compares in constant
time and refuses a timestamp more than ``tolerance`` seconds from its clock (replays).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from service.errors import RequestInvalid, WebhookSignatureInvalid

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
DEFAULT_TOLERANCE_S = 300


@dataclass(frozen=True)
class SignedHeaders:
    webhook_id: str
    timestamp: int
    signature: str  # "v1,<base64>"

    def as_dict(self) -> dict[str, str]:
        return {"webhook-id": self.webhook_id, "webhook-timestamp": str(self.timestamp),
                "webhook-signature": self.signature}


def new_secret() -> str:
    """A fresh ``whsec_...`` secret (shown once to the partner, stored encrypted)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RequestInvalid("a webhook secret reads 'whsec_<base64>'", field="secret") from None
    if len(key) < 24:
        raise RequestInvalid("a webhook secret needs at least 24 bytes", field="secret")
    return key


def _mac(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> SignedHeaders:
    return SignedHeaders(webhook_id, timestamp,
                         "v1," + _mac(secret_key(secret), webhook_id, timestamp, body))


def verify_delivery(secret: str, headers: Mapping[str, str], body: bytes, *,
                    tolerance: int = DEFAULT_TOLERANCE_S, now: float | None = None) -> None:
    """Raise ``WebhookSignatureInvalid`` unless ``body`` was signed with ``secret`` recently.

    ``headers`` may use any capitalisation (HTTP header names are case-insensitive).
    """
    lower = {name.lower(): value for name, value in headers.items()}
    webhook_id = lower.get("webhook-id", "")
    stamp, presented = lower.get("webhook-timestamp", ""), lower.get("webhook-signature", "")
    if not (webhook_id and stamp.isdigit() and presented):
        raise WebhookSignatureInvalid("webhook-id, webhook-timestamp or webhook-signature is "
                                      "missing or malformed")
    timestamp = int(stamp)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureInvalid(f"webhook-timestamp is {int(now - timestamp)} s from now; "
                                      f"at most {tolerance} s is accepted", timestamp=timestamp)
    expected = _mac(secret_key(secret), webhook_id, timestamp, body)
    for candidate in presented.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return
    raise WebhookSignatureInvalid("no v1 signature matches the body", webhook_id=webhook_id)
