"""Server secrets kept as files in the data directory (development and single-host setups)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.errors import PepperInvalid


def create_secret_file_once(path: Path, text: str) -> None:
    """Write ``path`` (mode 0600, directory 0700) unless it exists.

    Written to a private temporary name, then hard-linked into place: link() never replaces an
    existing name, so of two processes starting together the first writer wins, every process
    reads the same secret, and nobody ever reads a partial file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


# -- keys for AES-256-GCM envelopes (webhook secrets, face templates) -------------------------

AEAD_KEY_BYTES = 32
_NONCE_BYTES = 12
_ENVELOPE_VERSION = b"\x01"


def load_aead_key(value: str | None, env_name: str, path: Path, what: str) -> bytes:
    """A 32-byte key: ``value`` (hex, from the deployment's ``env_name``) or else the hex in
    ``path``, created 0600 on first use. ``what`` names the key in errors."""
    if value is not None:
        return _parse_key(value, env_name, what)
    if not path.exists():
        create_secret_file_once(path, secrets.token_hex(AEAD_KEY_BYTES) + "\n")
    return _parse_key(path.read_text(), str(path), what)


def _parse_key(text: str, source: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise PepperInvalid(f"the {what} in {source} is not hex", source=source) from None


class EnvelopeUnreadable(Exception):
    """``malformed``: not our stored form; otherwise the tag failed (other key, altered, or
    another row's ciphertext). Callers turn it into their own ``KeysError`` message."""

    def __init__(self, malformed: bool) -> None:
        super().__init__("malformed" if malformed else "does not decrypt")
        self.malformed = malformed


class AeadEnvelope:
    """``version (1 byte) || nonce (12) || ciphertext+tag`` under one AES-256-GCM key."""

    def __init__(self, key: bytes, what: str, source: str) -> None:
        if len(key) != AEAD_KEY_BYTES:
            raise PepperInvalid(f"the {what} has {len(key)} bytes; it needs {AEAD_KEY_BYTES}",
                                source=source)
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _ENVELOPE_VERSION + nonce + self._aead.encrypt(nonce, plain, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if sealed[:1] != _ENVELOPE_VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise EnvelopeUnreadable(malformed=True)
        nonce, body = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise EnvelopeUnreadable(malformed=False) from None
