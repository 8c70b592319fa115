"""Webhook signing secrets at rest: encrypted, because the service must be able to read them.

An API key can be stored as a keyed hash since the service only ever *checks* it. A webhook
secret is the opposite: every delivery is signed with HMAC-SHA256 keyed by the secret itself,
so the service needs the plaintext again, for as long as the endpoint lives. It is therefore
encrypted with AES-256-GCM under a key held outside the database (``LIKENESS_WEBHOOK_SECRET_KEY``
from the deployment's vault, or ``data_dir/webhook-secret-key``, created 0600 on first use):
a database dump alone yields no secret. The endpoint's id is the associated data, so a
ciphertext copied onto another endpoint's row does not decrypt.

Stored form (``service.secret_files``): ``0x02 || key id (4) || nonce (12) || ciphertext+tag``;
version 1 (``0x01 || nonce || ciphertext+tag``, no key id) is still read. Secrets sealed under a
key named in ``LIKENESS_WEBHOOK_SECRET_PREVIOUS_KEYS`` still open; ``likeness keys
rotate-webhook-secrets`` re-seals them under the current key (``service.key_rotation``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from service.secret_files import (
    AeadEnvelope,
    EnvelopeUnreadable,
    load_aead_key,
    parse_previous_keys,
    sealed_value_error,
)
from service.settings import Settings

WHAT = "webhook secret key"


class SecretBox:
    """Seals endpoint secrets with the current AES-256-GCM key; opens them under it or any
    previous key (``previous``: retired by a rotation, never used to seal)."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        self._envelope = AeadEnvelope(key, WHAT, source="webhook_secret_key", previous=previous)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        value, previous = settings.webhook_secret_key, settings.webhook_secret_previous_keys
        return cls(load_aead_key(None if value is None else value.get_secret_value(),
                                 "LIKENESS_WEBHOOK_SECRET_KEY",
                                 settings.webhook_secret_key_file, WHAT),
                   parse_previous_keys(None if previous is None else previous.get_secret_value(),
                                       "LIKENESS_WEBHOOK_SECRET_PREVIOUS_KEYS", WHAT))

    @property
    def key_id(self) -> str:
        """The current key's id (hex): what a rotation re-seals under."""
        return self._envelope.key_id

    def is_current(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is already sealed under the current key (a rotation skips it)."""
        return self._envelope.is_current(sealed)

    def seal(self, endpoint_id: uuid.UUID, secret: str) -> bytes:
        return self._envelope.seal(secret.encode("ascii"), endpoint_id.bytes)

    def open(self, endpoint_id: uuid.UUID, sealed: bytes) -> str:
        """The secret; ``SealedValueUnreadable`` if it does not decrypt (altered, or another
        endpoint's), ``SealingKeyMismatch`` if it names a key that is not configured."""
        try:
            return self._envelope.open(sealed, endpoint_id.bytes).decode("ascii")
        except EnvelopeUnreadable as failed:
            raise sealed_value_error(failed, "a webhook secret", WHAT,
                                     endpoint_id=str(endpoint_id)) from None
