"""Personal data in audit events: sealed under a per-person key that erasure destroys.

Audit events are immutable and hash-chained, so a name or an email written into one could
never be removed without breaking the chain. Instead each person an event may name (a depicted
``subject:<uuid>``, a staff or partner ``user:<uuid>``) gets a random AES-256-GCM data key,
stored in ``audit_personal_keys`` wrapped by the deployment's master key
(``LIKENESS_AUDIT_PERSONAL_KEY`` or ``data_dir/audit-personal-key``, created 0600 on first
use). A personal field enters a payload only sealed::

    {"enc": base64(nonce || ciphertext+tag), "kid": "subject:<uuid>"}

with the owner and the field's name as associated data, so a sealed value moved onto another
person or field does not open. Erasing a person (``erase_person``) deletes the wrapped key:
the events, their hashes and the Merkle tree are untouched and keep verifying, but the fields
read ``[erased]`` from then on (crypto-shredding). A database dump alone opens nothing.

The master key travels from the edges (API, CLI, workers) in ``AuditContext.keyring``. A
context without one (a test fixture, a tool that has no settings) records ``{"withheld":
true}`` in place of the value: the field is never written in clear.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.audit import AuditContext, record
from service.db.models import AuditPersonalKey
from service.db.types import utcnow
from service.errors import KeysError, PepperInvalid, PersonalDataErased, RequestInvalid
from service.secret_files import create_secret_file_once
from service.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
WRAP_VERSION = b"\x01"
ERASED = "[erased]"  # the person's key was destroyed
SEALED = "[sealed]"  # read without the master key
UNREADABLE = "[unreadable]"  # the ciphertext does not open: altered (the chain check names it)
WITHHELD = {"withheld": True}
OWNER_KINDS = ("subject", "user")


class AuditKeyring:
    """The master key: wraps and unwraps people's data keys (AES-256-GCM, owner as AAD)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise PepperInvalid(f"the audit personal-data key has {len(master_key)} bytes; it "
                                f"needs {KEY_BYTES}", source="audit_personal_key")
        self._aead = AESGCM(master_key)

    def __repr__(self) -> str:
        return "AuditKeyring(<secret>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditKeyring:
        if settings.audit_personal_key is not None:
            return cls(_parse_hex(settings.audit_personal_key.get_secret_value(),
                                  "LIKENESS_AUDIT_PERSONAL_KEY"))
        path = settings.audit_personal_key_file
        if not path.exists():
            create_secret_file_once(path, secrets.token_hex(KEY_BYTES) + "\n")
        return cls(_parse_hex(path.read_text(), str(path)))

    def wrap(self, owner: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return WRAP_VERSION + nonce + self._aead.encrypt(nonce, data_key, owner.encode())

    def unwrap(self, owner: str, wrapped: bytes) -> bytes:
        if wrapped[:1] != WRAP_VERSION or len(wrapped) != 1 + NONCE_BYTES + KEY_BYTES + 16:
            raise KeysError(f"the audit key of {owner} is stored in an unknown format",
                            owner=owner)
        try:
            return self._aead.decrypt(wrapped[1:1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES:],
                                      owner.encode())
        except InvalidTag:
            raise KeysError(f"the audit key of {owner} does not unwrap: the audit personal-data "
                            "key changed or the row was altered", owner=owner) from None


def owner_of(kind: str, owner_id: object) -> str:
    """``subject:<uuid>`` / ``user:<uuid>``: whose key seals a field."""
    if kind not in OWNER_KINDS:
        raise RequestInvalid(f"personal data belongs to a {' or '.join(OWNER_KINDS)}, "
                             f"not {kind!r}", field="owner")
    return f"{kind}:{owner_id}"


def check_owner(owner: str) -> str:
    kind, _, rest = owner.partition(":")
    if kind not in OWNER_KINDS or not rest or len(owner) > 200:
        raise RequestInvalid(f"{owner!r} is not subject:<id> or user:<id>", field="owner")
    return owner


def seal_fields(session: Session, context: AuditContext, owner: str,
                fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` ready for an event payload: each non-None value sealed under ``owner``."""
    keyring = context.keyring
    present = {name: value for name, value in fields.items() if value is not None}
    sealed: dict[str, Any] = {name: None for name in fields if name not in present}
    if not present:
        return sealed
    if keyring is None:
        return sealed | {name: dict(WITHHELD) for name in present}
    aead = AESGCM(_data_key(session, keyring, check_owner(owner)))
    for name, value in present.items():
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, ensure_ascii=False).encode()
        body = aead.encrypt(nonce, plain, _aad(owner, name))
        sealed[name] = {"enc": base64.b64encode(nonce + body).decode("ascii"), "kid": owner}
    return sealed


def _aad(owner: str, name: str) -> bytes:
    return f"{owner}\x00{name}".encode()


def _data_key(session: Session, keyring: AuditKeyring, owner: str) -> bytes:
    row = session.execute(select(AuditPersonalKey.wrapped_key, AuditPersonalKey.erased_at)
                          .where(AuditPersonalKey.owner == owner)).one_or_none()
    if row is None:
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        try:
            with session.begin_nested():
                session.add(AuditPersonalKey(owner=owner, created_at=utcnow(),
                                             wrapped_key=keyring.wrap(owner, data_key)))
            return data_key
        except IntegrityError:  # created by a concurrent transaction meanwhile: use theirs
            return _data_key(session, keyring, owner)
    if row.wrapped_key is None:
        raise PersonalDataErased(f"the personal data of {owner} was erased; nothing personal "
                                 "may be recorded under it again", owner=owner,
                                 erased_at=row.erased_at.isoformat() if row.erased_at else None)
    return keyring.unwrap(owner, row.wrapped_key)


def erase_person(session: Session, context: AuditContext, owner: str, *,
                 reason: str, now: datetime | None = None) -> bool:
    """Destroy ``owner``'s key (crypto-shredding); True if a key existed. Audited."""
    owner, now = check_owner(owner), now or utcnow()
    reason = reason.strip()
    if not 0 < len(reason) <= 500:
        raise RequestInvalid("give a reason of 1-500 characters", field="reason")
    row = session.scalar(select(AuditPersonalKey).where(AuditPersonalKey.owner == owner)
                         .with_for_update())
    had_key = row is not None and row.wrapped_key is not None
    if row is None:  # nothing sealed yet: the row still refuses any later sealing
        session.add(AuditPersonalKey(owner=owner, wrapped_key=None, created_at=now,
                                     erased_at=now))
    elif row.wrapped_key is not None:
        row.wrapped_key, row.erased_at = None, now
    session.flush()
    record(session, context, "compliance:personal_data:erase", owner, now=now,
           payload={"key_destroyed": had_key, "reason": reason})
    return had_key


@dataclass
class PayloadOpener:
    """Opens sealed fields for display; one per query or export (caches keys per owner)."""

    session: Session
    keyring: AuditKeyring | None
    _keys: dict[str, bytes | None] = field(default_factory=dict)

    def open(self, payload: Any) -> Any:
        if isinstance(payload, list):
            return [self.open(item) for item in payload]
        if not isinstance(payload, dict):
            return payload
        return {name: self._open_field(name, value) if is_sealed(value) else self.open(value)
                for name, value in payload.items()}

    def _open_field(self, name: str, sealed: dict[str, str]) -> Any:
        if self.keyring is None:
            return SEALED
        owner = sealed["kid"]
        key = self._key(owner)
        if key is None:
            return ERASED
        try:
            raw = base64.b64decode(sealed["enc"], validate=True)
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(owner, name))
            return json.loads(plain)
        except (InvalidTag, binascii.Error, ValueError):
            return UNREADABLE

    def _key(self, owner: str) -> bytes | None:
        if owner not in self._keys:
            wrapped = self.session.scalar(select(AuditPersonalKey.wrapped_key)
                                          .where(AuditPersonalKey.owner == owner))
            self._keys[owner] = None if wrapped is None or self.keyring is None \
                else self.keyring.unwrap(owner, wrapped)
        return self._keys[owner]


def is_sealed(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"enc", "kid"}
            and all(isinstance(v, str) for v in value.values()))


def _parse_hex(text: str, source: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise PepperInvalid(f"the audit personal-data key in {source} is not hex",
                            source=source) from None
