"""Signed audit checkpoints in the transparency-log "signed note" format (C2SP signed-note and
tlog-checkpoint), so standard tooling and third parties can check them with one public key.

A checkpoint note is::

    <origin>
    <tree size, decimal>
    <root hash, base64>
    time <UTC, RFC 3339, whole seconds, Z>

    — <key name> <base64(4-byte key hash || Ed25519 signature of the text above the blank line)>

The key hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). Keys travel
as text in the Go ``golang.org/x/mod/sumdb/note`` forms: a verifier key
``name+hash+base64(0x01||public key)`` and a private key ``PRIVATE+KEY+name+hash+base64(0x01||
seed)``. Verification is strict (one canonical text per checkpoint); signatures by other keys
(witness cosignatures) are allowed beside ours but never required.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from policy.audit.merkle import EMPTY_ROOT, HASH_SIZE
from policy.errors import AuditCheckpointInvalid, AuditKeyInvalid

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIZE = 2**63 - 1
MAX_SIGNATURES = 100
_NAME_MAX = 200
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME = re.compile(r"time ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX8 = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True)
class Checkpoint:
    """The log's state at one moment: ``size`` leaves with Merkle root ``root``.

    ``timestamp`` is normalised to UTC and whole seconds, the precision the note carries, so a
    checkpoint and the one read back from its note are equal.
    """

    origin: str  # the log's identity, conventionally its key name ("likeness.example/audit")
    size: int
    root: bytes
    timestamp: datetime

    def __post_init__(self) -> None:
        if not _is_name(self.origin):
            raise AuditCheckpointInvalid(f"checkpoint origin must be 1-{_NAME_MAX} printable "
                                         "characters without spaces or '+'", reason="origin")
        if type(self.size) is not int or not 0 <= self.size <= MAX_SIZE:
            raise AuditCheckpointInvalid(f"checkpoint size {self.size!r} is not an integer in "
                                         f"0..{MAX_SIZE}", reason="size")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise AuditCheckpointInvalid(f"checkpoint root must be {HASH_SIZE} bytes",
                                         reason="root")
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise AuditCheckpointInvalid("an empty tree's root is SHA-256 of nothing",
                                         reason="root")
        moment = self.timestamp
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            raise AuditCheckpointInvalid("checkpoint time must be timezone-aware",
                                         reason="time")
        object.__setattr__(self, "timestamp", moment.astimezone(UTC).replace(microsecond=0))

    def body(self) -> str:
        """The signed text (tlog-checkpoint with one ``time`` extension line)."""
        root = base64.b64encode(self.root).decode("ascii")
        stamp = self.timestamp.strftime(_TIME_FORMAT)
        return f"{self.origin}\n{self.size}\n{root}\ntime {stamp}\n"


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id binding a key to its name (C2SP signed-note, Ed25519)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
                          ).digest()[:4]


class NoteVerifier:
    """Checks checkpoint notes against one Ed25519 key (the log's verifier key)."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not _is_name(name):
            raise AuditKeyInvalid(f"key name {name!r} must be 1-{_NAME_MAX} printable "
                                  "characters without spaces or '+'")
        self.name = name
        self._public_key = public_key
        self._raw = public_key.public_bytes_raw()
        self.key_hash = key_hash(name, self._raw)

    @classmethod
    def from_vkey(cls, text: str) -> NoteVerifier:
        """Parse ``name+hash+base64(0x01||public key)``; the hash must match the key."""
        # base64 may hold '+': only the first two separate fields (as Go's note package reads it)
        parts = text.strip().split("+", 2) if isinstance(text, str) else []
        if len(parts) != 3:
            raise AuditKeyInvalid("a verifier key is name+hash+base64 key")
        name, hash_hex, encoded = parts
        raw = _decode_key(encoded, hash_hex, name, what="verifier key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw))
        if verifier.key_hash.hex() != hash_hex:
            raise AuditKeyInvalid(f"verifier key hash {hash_hex} does not match its key and "
                                  f"name {name!r}", name=name)
        return verifier

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self._raw).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def verify(self, note: str, *, origin: str | None = None) -> Checkpoint:
        """The checkpoint ``note`` states, once its signature by this key verifies.

        ``origin``, when given, must be the checkpoint's (a note from another log is refused).
        """
        checkpoint = _parse_body(self.open(note))
        if origin is not None and checkpoint.origin != origin:
            raise AuditCheckpointInvalid(f"checkpoint origin {checkpoint.origin!r} is not "
                                         f"{origin!r}", reason="origin_mismatch")
        return checkpoint

    def open(self, note: str) -> str:
        """The text of any signed note, once its signature by this key verifies."""
        body, signatures = _split_note(note)
        ours = [sig for name, sig in signatures if name == self.name and sig[:4] == self.key_hash]
        if not ours:
            raise AuditCheckpointInvalid(f"checkpoint is not signed by key {self.name!r} "
                                         f"({self.key_hash.hex()})", reason="unknown_key")
        if len(ours) > 1:
            raise AuditCheckpointInvalid("checkpoint carries our signature more than once",
                                         reason="malformed_note")
        try:
            self._public_key.verify(ours[0][4:], body.encode("utf-8"))
        except InvalidSignature:
            raise AuditCheckpointInvalid(f"checkpoint signature by {self.name!r} does not "
                                         "verify", reason="bad_signature") from None
        return body


class NoteSigner:
    """Signs checkpoints with the log's Ed25519 key (kept in a private key file)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.verifier = NoteVerifier(name, private_key.public_key())
        self.name = name

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier_key(self) -> str:
        return self.verifier.vkey

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note text of ``checkpoint``."""
        return self.sign_text(checkpoint.body())

    def sign_text(self, body: str) -> str:
        """A signed note of any text (non-empty, newline-terminated, no control characters)."""
        if not _is_note_text(body):
            raise AuditCheckpointInvalid("a note's text is non-empty, ends in a newline and has "
                                         "no control characters but newlines",
                                         reason="malformed_note")
        signature = self._private_key.sign(body.encode("utf-8"))
        encoded = base64.b64encode(self.verifier.key_hash + signature).decode("ascii")
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {encoded}\n"

    def to_text(self) -> str:
        """``PRIVATE+KEY+name+hash+base64(0x01||seed)``: a secret, store it like one."""
        seed = self._private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash.hex()}+{encoded}"

    @classmethod
    def from_text(cls, text: str) -> NoteSigner:
        parts = text.strip().split("+", 4) if isinstance(text, str) else []
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise AuditKeyInvalid("a signing key is PRIVATE+KEY+name+hash+base64 seed")
        name, hash_hex, encoded = parts[2:]
        seed = _decode_key(encoded, hash_hex, name, what="signing key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.verifier.key_hash.hex() != hash_hex:
            raise AuditKeyInvalid(f"signing key hash {hash_hex} does not match its key and "
                                  f"name {name!r}", name=name)
        return signer

    def save(self, path: Path) -> None:
        """Write the key file readable by its owner only; never overwrite an existing key."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise AuditKeyInvalid(f"cannot create signing key file {path}: {exc.strerror}",
                                  path=str(path)) from exc
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(self.to_text() + "\n")

    @classmethod
    def load(cls, path: Path) -> NoteSigner:
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditKeyInvalid(f"cannot read signing key file {path}: {exc}",
                                  path=str(path)) from exc
        return cls.from_text(text)


# -- parsing -----------------------------------------------------------------------------------


def _is_note_text(text: object) -> bool:
    return (isinstance(text, str) and text.endswith("\n")
            and not any(ord(char) < 0x20 and char != "\n" or char == "\x7f" for char in text))


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its (key name, decoded signature) lines."""
    if not _is_note_text(note):
        raise AuditCheckpointInvalid("a signed note is text ending in a newline, with no "
                                     "control characters but newlines", reason="malformed_note")
    split = note.rfind("\n\n")
    if split < 0:
        raise AuditCheckpointInvalid("a signed note has a blank line before its signatures",
                                     reason="malformed_note")
    body, lines = note[:split + 1], note[split + 2:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise AuditCheckpointInvalid(f"more than {MAX_SIGNATURES} signatures",
                                     reason="malformed_note")
    return body, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> tuple[str, bytes]:
    fields = line.removeprefix(SIGNATURE_PREFIX).split(" ")
    if not line.startswith(SIGNATURE_PREFIX) or len(fields) != 2 or not _is_name(fields[0]):
        raise AuditCheckpointInvalid(f"malformed signature line {line[:80]!r}",
                                     reason="malformed_note")
    signature = _strict_b64(fields[1])
    if signature is None or len(signature) < 5:
        raise AuditCheckpointInvalid(f"signature of {fields[0]!r} is not canonical base64 of a "
                                     "key hash and a signature", reason="malformed_note")
    return fields[0], signature


def _parse_body(body: str) -> Checkpoint:
    """The checkpoint of a verified note text; anything but the canonical body is refused."""
    lines = body.split("\n")
    if len(lines) != 5 or lines[4] != "":
        raise AuditCheckpointInvalid("checkpoint body must be origin, size, root and time lines",
                                     reason="malformed_body")
    origin, size_text, root_text, time_line = lines[:4]
    if not _DECIMAL.fullmatch(size_text):
        raise AuditCheckpointInvalid(f"checkpoint size {size_text[:40]!r} is not a decimal "
                                     "number", reason="malformed_body")
    root = _strict_b64(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise AuditCheckpointInvalid("checkpoint root is not canonical base64 of 32 bytes",
                                     reason="malformed_body")
    stamp = _TIME.fullmatch(time_line)
    if stamp is None:
        raise AuditCheckpointInvalid("checkpoint lacks its 'time YYYY-MM-DDTHH:MM:SSZ' line",
                                     reason="malformed_body")
    try:
        moment = datetime.strptime(stamp.group(1), _TIME_FORMAT).replace(tzinfo=UTC)
        checkpoint = Checkpoint(origin=origin, size=int(size_text), root=root, timestamp=moment)
    except (ValueError, AuditCheckpointInvalid) as exc:
        raise AuditCheckpointInvalid(f"checkpoint body is malformed: {exc}",
                                     reason="malformed_body") from exc
    if checkpoint.body() != body:  # one text per checkpoint
        raise AuditCheckpointInvalid("checkpoint body is not in canonical form",
                                     reason="malformed_body")
    return checkpoint


def _decode_key(encoded: str, hash_hex: str, name: str, *, what: str) -> bytes:
    if not _is_name(name) or not _HEX8.fullmatch(hash_hex):
        raise AuditKeyInvalid(f"{what} has a malformed name or key hash")
    raw = _strict_b64(encoded)
    if raw is None or len(raw) != 33 or raw[0] != ALG_ED25519:
        raise AuditKeyInvalid(f"{what} is not canonical base64 of 0x01 and a 32-byte "
                              "Ed25519 key", name=name)
    return raw[1:]


def _strict_b64(text: str) -> bytes | None:
    """Decode standard padded base64, or None unless ``text`` is its one canonical encoding."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _is_name(name: object) -> bool:
    return (isinstance(name, str) and 0 < len(name) <= _NAME_MAX and name.isprintable()
            and "+" not in name and not any(char.isspace() for char in name))
