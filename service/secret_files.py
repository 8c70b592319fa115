"""Server secrets kept as files in the data directory (development and single-host setups), and
the AES-256-GCM envelope that seals stored values under such keys, with rotation (below)."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.errors import PepperInvalid, SealedValueUnreadable, SealingKeyMismatch


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
#
# Stored forms (the version byte tells them apart):
#   1: ``0x01 || nonce (12) || ciphertext+tag``, AAD = the row's: names no key; still opened,
#      under each configured key in turn, until ``likeness keys rotate-*`` re-seals it.
#   2: ``0x02 || key id (4) || nonce (12) || ciphertext+tag``, AAD = the 5-byte header + the
#      row's: the key id (the first 4 bytes of SHA-256 of the key) names the key that sealed it,
#      so a value is opened by that key alone and a missing key is told apart from an altered
#      row. Everything is sealed as version 2 under the current key; previous keys only open.

AEAD_KEY_BYTES = 32
KEY_ID_BYTES = 4
_NONCE_BYTES = 12
_TAG_BYTES = 16
_V1 = b"\x01"
_V2 = b"\x02"
_V2_HEADER = 1 + KEY_ID_BYTES


def load_aead_key(value: str | None, env_name: str, path: Path, what: str) -> bytes:
    """A 32-byte key: ``value`` (hex, from the deployment's ``env_name``) or else the hex in
    ``path``, created 0600 on first use. ``what`` names the key in errors."""
    if value is not None:
        return _parse_key(value, env_name, what)
    if not path.exists():
        create_secret_file_once(path, secrets.token_hex(AEAD_KEY_BYTES) + "\n")
    return _parse_key(path.read_text(), str(path), what)


def parse_previous_keys(value: str | None, env_name: str, what: str) -> tuple[bytes, ...]:
    """Keys retired by a rotation, comma-separated hex (``env_name``): they open, never seal."""
    if value is None:
        return ()
    return tuple(_parse_key(part, env_name, f"previous {what}")
                 for part in value.split(",") if part.strip())


def _parse_key(text: str, source: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise PepperInvalid(f"the {what} in {source} is not hex", source=source) from None


def key_id(key: bytes) -> bytes:
    """The 4 bytes a version-2 envelope names its key by (a hash: the key stays secret)."""
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


class Unopened(enum.StrEnum):
    """Why a stored value does not open."""

    MALFORMED = "malformed"  # not a stored form of ours: the row's fault
    KEY_UNKNOWN = "key_unknown"  # names a key that is not configured: the deployment's
    ALTERED = "altered"  # its key is configured and the tag fails: altered, or another row's
    UNDETERMINED = "undetermined"  # version 1 (names no key) and no configured key opens it


class EnvelopeUnreadable(Exception):
    """``reason`` says whose fault it may be; ``key_id`` (hex) is the unknown key's, if named.
    Callers turn it into their own ``KeysError`` leaf (``sealed_value_error``)."""

    def __init__(self, reason: Unopened, key_id: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.key_id = key_id


class AeadEnvelope:
    """Seals under the current AES-256-GCM key; opens under it or any previous key."""

    def __init__(self, key: bytes, what: str, source: str,
                 previous: Sequence[bytes] = ()) -> None:
        self._by_id: dict[bytes, tuple[bytes, AESGCM]] = {}
        for each in (key, *previous):
            if len(each) != AEAD_KEY_BYTES:
                raise PepperInvalid(f"a {what} has {len(each)} bytes; it needs {AEAD_KEY_BYTES}",
                                    source=source)
            known = self._by_id.setdefault(key_id(each), (each, AESGCM(each)))
            if known[0] != each:  # 1 in 2**32 per pair: make another key rather than guess
                raise PepperInvalid(f"two configured {what}s share the key id "
                                    f"{key_id(each).hex()}: generate another key", source=source)
        self._current = key_id(key)
        self._aead = self._by_id[self._current][1]

    @property
    def key_id(self) -> str:
        """The current key's id, in hex (what operators compare)."""
        return self._current.hex()

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        header, nonce = _V2 + self._current, os.urandom(_NONCE_BYTES)
        return header + nonce + self._aead.encrypt(nonce, plain, header + aad)

    def is_current(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is already in the newest form under the current key."""
        return sealed[:_V2_HEADER] == _V2 + self._current

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        version = sealed[:1]
        if version == _V2 and len(sealed) >= _V2_HEADER + _NONCE_BYTES + _TAG_BYTES:
            named = sealed[1:_V2_HEADER]
            if named not in self._by_id:
                raise EnvelopeUnreadable(Unopened.KEY_UNKNOWN, named.hex())
            nonce, body = sealed[_V2_HEADER:_V2_HEADER + _NONCE_BYTES], \
                sealed[_V2_HEADER + _NONCE_BYTES:]
            try:
                return self._by_id[named][1].decrypt(nonce, body, sealed[:_V2_HEADER] + aad)
            except InvalidTag:
                raise EnvelopeUnreadable(Unopened.ALTERED) from None
        if version == _V1 and len(sealed) >= 1 + _NONCE_BYTES + _TAG_BYTES:
            nonce, body = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
            for _, aead in self._by_id.values():  # the current key first
                with contextlib.suppress(InvalidTag):
                    return aead.decrypt(nonce, body, aad)
            raise EnvelopeUnreadable(Unopened.UNDETERMINED)
        raise EnvelopeUnreadable(Unopened.MALFORMED)


def sealed_value_error(failed: EnvelopeUnreadable, what: str, key_name: str,
                       **where: str) -> SealingKeyMismatch | SealedValueUnreadable:
    """The ``KeysError`` leaf for ``what`` (e.g. "a webhook secret") that did not open under
    the ``key_name``s configured; ``where`` names the row. Never a key's bytes."""
    if failed.reason == Unopened.KEY_UNKNOWN:
        return SealingKeyMismatch(f"{what} does not decrypt: it was sealed under a {key_name} "
                                  f"(key id {failed.key_id}) that is not configured as the "
                                  "current or a previous key", key_id=failed.key_id, **where)
    if failed.reason == Unopened.MALFORMED:
        return SealedValueUnreadable(f"{what} is stored in an unknown format", **where)
    if failed.reason == Unopened.ALTERED:
        return SealedValueUnreadable(f"{what} does not decrypt under the {key_name} that sealed "
                                     "it: the ciphertext was altered or copied from another row",
                                     **where)
    return SealedValueUnreadable(f"{what} does not decrypt: the {key_name} changed, or the "
                                 "ciphertext was altered or copied from another row",
                                 undetermined=True, **where)
