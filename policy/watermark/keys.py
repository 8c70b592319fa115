"""The operator's watermark secret and the keyed randomness derived from it.

Every keyed choice (sync chips, data chip signs, bit interleaving) is drawn from a numpy
generator seeded by HMAC-SHA256(secret, purpose), so a detector without the secret cannot
correlate against the pattern, and one key's pattern says nothing about another's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import numpy as np

from policy.errors import WatermarkKeyInvalid

KEY_BYTES = 32


@dataclass(frozen=True)
class WatermarkKey:
    """Operator secret: 32 random bytes. ``key_id`` is a public fingerprint safe to log."""

    secret: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_BYTES:
            got = len(self.secret) if isinstance(self.secret, bytes) else type(self.secret).__name__
            raise WatermarkKeyInvalid(f"watermark key must be {KEY_BYTES} bytes", got=got)

    @classmethod
    def generate(cls) -> "WatermarkKey":
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_hex(cls, text: str) -> "WatermarkKey":
        if not isinstance(text, str):
            raise WatermarkKeyInvalid("watermark key must be a hex string", got=type(text).__name__)
        cleaned = text.strip()
        if len(cleaned) != 2 * KEY_BYTES:
            raise WatermarkKeyInvalid(
                f"watermark key must be {2 * KEY_BYTES} hex digits", got=len(cleaned)
            )
        try:
            return cls(bytes.fromhex(cleaned))
        except ValueError:
            raise WatermarkKeyInvalid("watermark key is not valid hex") from None

    def to_hex(self) -> str:
        return self.secret.hex()

    @property
    def key_id(self) -> str:
        # A hash under a fixed label: reveals nothing usable about the secret.
        return hashlib.sha256(b"likeness-watermark-key-id\0" + self.secret).hexdigest()[:16]

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for one keyed purpose (independent streams per purpose)."""
        digest = hmac.new(self.secret, purpose.encode(), hashlib.sha256).digest()
        return np.random.default_rng(int.from_bytes(digest, "big"))

    def __repr__(self) -> str:  # never print the secret
        return f"WatermarkKey(key_id={self.key_id!r})"
