"""Webhook signing secrets at rest: encrypted, because the service must be able to read them.

An API key can be stored as a keyed hash since the service only ever *checks* it. A webhook
secret is the opposite: every delivery is signed with HMAC-SHA256 keyed by the secret itself,
so the service needs the plaintext again, for as long as the endpoint lives. It is therefore
encrypted with AES-256-GCM under a key held outside the database (``LIKENESS_WEBHOOK_SECRET_KEY``
from the deployment's vault, or ``data_dir/webhook-secret-key``, created 0600 on first use):
a database dump alone yields no secret. The endpoint's id is the associated data, so a
ciphertext copied onto another endpoint's row does not decrypt.

Stored form: ``version (1 byte) || nonce (12) || ciphertext+tag``.
"""

from __future__ import annotations

import uuid

from service.errors import KeysError
from service.secret_files import AeadEnvelope, EnvelopeUnreadable, load_aead_key
from service.settings import Settings

WHAT = "webhook secret key"


class SecretBox:
    """Seals and opens endpoint secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        self._envelope = AeadEnvelope(key, WHAT, source="webhook_secret_key")

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        value = settings.webhook_secret_key
        return cls(load_aead_key(None if value is None else value.get_secret_value(),
                                 "LIKENESS_WEBHOOK_SECRET_KEY",
                                 settings.webhook_secret_key_file, WHAT))

    def seal(self, endpoint_id: uuid.UUID, secret: str) -> bytes:
        return self._envelope.seal(secret.encode("ascii"), endpoint_id.bytes)

    def open(self, endpoint_id: uuid.UUID, sealed: bytes) -> str:
        try:
            return self._envelope.open(sealed, endpoint_id.bytes).decode("ascii")
        except EnvelopeUnreadable as failed:
            if failed.malformed:
                raise KeysError("a webhook secret is stored in an unknown format",
                                endpoint_id=str(endpoint_id)) from None
            raise KeysError("a webhook secret does not decrypt: the webhook secret key changed "
                            "or the row was tampered with", endpoint_id=str(endpoint_id)) from None
