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

import os
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.errors import KeysError, PepperInvalid
from service.secret_files import create_secret_file_once
from service.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_VERSION = b"\x01"


class SecretBox:
    """Seals and opens endpoint secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise PepperInvalid(f"the webhook secret key has {len(key)} bytes; it needs "
                                f"{KEY_BYTES}", source="webhook_secret_key")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.webhook_secret_key is not None:
            return cls(_parse(settings.webhook_secret_key.get_secret_value(),
                              "LIKENESS_WEBHOOK_SECRET_KEY"))
        path = settings.webhook_secret_key_file
        if not path.exists():
            create_secret_file_once(path, secrets.token_hex(KEY_BYTES) + "\n")
        return cls(_parse(path.read_text(), str(path)))

    def seal(self, endpoint_id: uuid.UUID, secret: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_VERSION + nonce + self._aead.encrypt(nonce, secret.encode("ascii"),
                                                           endpoint_id.bytes)

    def open(self, endpoint_id: uuid.UUID, sealed: bytes) -> str:
        if sealed[:1] != FORMAT_VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
            raise KeysError("a webhook secret is stored in an unknown format",
                            endpoint_id=str(endpoint_id))
        nonce, body = sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, endpoint_id.bytes).decode("ascii")
        except InvalidTag:
            raise KeysError("a webhook secret does not decrypt: the webhook secret key changed "
                            "or the row was tampered with", endpoint_id=str(endpoint_id)) from None


def _parse(text: str, source: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise PepperInvalid(f"the webhook secret key in {source} is not hex",
                            source=source) from None
