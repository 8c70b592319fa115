"""``AeadEnvelope``: values name the key that sealed them, previous keys open but never seal,
the envelopes stored before rotation existed still open, and a value that does not open says
whose fault it may be."""

from __future__ import annotations

import hashlib

import pytest

from service.errors import PepperInvalid, SealedValueUnreadable, SealingKeyMismatch
from service.secret_files import (
    AeadEnvelope,
    EnvelopeUnreadable,
    Unopened,
    parse_previous_keys,
    sealed_value_error,
)
from tests.service.sealed_support import seal_version_1

OLD, NEW, OTHER = b"o" * 32, b"n" * 32, b"x" * 32
AAD = b"row-1"


def _envelope(key: bytes = NEW, *previous: bytes) -> AeadEnvelope:
    return AeadEnvelope(key, "test key", source="test", previous=previous)


def _reason(envelope: AeadEnvelope, sealed: bytes, aad: bytes = AAD) -> Unopened:
    with pytest.raises(EnvelopeUnreadable) as failed:
        envelope.open(sealed, aad)
    return failed.value.reason


def test_a_value_names_its_key_and_opens_under_it_as_a_previous_key() -> None:
    old = _envelope(OLD)
    sealed = old.seal(b"secret", AAD)
    assert sealed[:1] == b"\x02" and sealed[1:5] == hashlib.sha256(OLD).digest()[:4]
    assert old.key_id == hashlib.sha256(OLD).digest()[:4].hex() and old.is_current(sealed)
    rotated = _envelope(NEW, OLD)
    assert rotated.open(sealed, AAD) == b"secret" and not rotated.is_current(sealed)
    # What the rotated envelope seals names the new key only: the old key cannot open it.
    resealed = rotated.seal(b"secret", AAD)
    assert rotated.is_current(resealed) and rotated.open(resealed, AAD) == b"secret"
    assert _reason(old, resealed) == Unopened.KEY_UNKNOWN
    # Without the old key the value names a key that is not configured: the deployment's fault.
    with pytest.raises(EnvelopeUnreadable) as failed:
        _envelope(NEW).open(sealed, AAD)
    assert failed.value.key_id == old.key_id


def test_version_1_envelopes_still_open_under_the_current_or_a_previous_key() -> None:
    legacy = seal_version_1(OLD, b"secret", AAD)
    assert _envelope(OLD).open(legacy, AAD) == b"secret"
    assert _envelope(NEW, OTHER, OLD).open(legacy, AAD) == b"secret"
    assert not _envelope(OLD).is_current(legacy)  # a rotation re-seals it even under OLD
    # No configured key opens it and it names none: a wrong key or an altered row alike.
    assert _reason(_envelope(NEW), legacy) == Unopened.UNDETERMINED
    assert _reason(_envelope(OLD), legacy, b"row-2") == Unopened.UNDETERMINED


def test_altered_copied_and_malformed_values_are_told_apart_from_a_missing_key() -> None:
    envelope = _envelope(NEW, OLD)
    sealed = envelope.seal(b"secret", AAD)
    assert _reason(envelope, sealed, b"row-2") == Unopened.ALTERED  # copied to another row
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert _reason(envelope, flipped) == Unopened.ALTERED
    # The header is authenticated: naming the other configured key does not open it either.
    renamed = sealed[:1] + hashlib.sha256(OLD).digest()[:4] + sealed[5:]
    assert _reason(envelope, renamed) == Unopened.ALTERED
    for malformed in (b"", b"\x02short", b"\x03" + sealed[1:], b"\x00" * 512):
        assert _reason(envelope, malformed) == Unopened.MALFORMED


def test_each_reason_becomes_its_error_without_key_material() -> None:
    errors = {reason: sealed_value_error(EnvelopeUnreadable(reason, "0a0b0c0d"), "a value",
                                         "test key", row_id="r1") for reason in Unopened}
    assert isinstance(errors[Unopened.KEY_UNKNOWN], SealingKeyMismatch)
    assert errors[Unopened.KEY_UNKNOWN].context == {"key_id": "0a0b0c0d", "row_id": "r1"}
    for reason in (Unopened.MALFORMED, Unopened.ALTERED, Unopened.UNDETERMINED):
        assert isinstance(errors[reason], SealedValueUnreadable)
        assert errors[reason].context == {"row_id": "r1"}
        assert errors[reason].undetermined == (reason == Unopened.UNDETERMINED)
    for error in errors.values():
        assert NEW.hex() not in error.message and OLD.hex() not in error.message


def test_previous_keys_are_comma_separated_hex() -> None:
    assert parse_previous_keys(None, "ENV", "test key") == ()
    assert parse_previous_keys(f" {OLD.hex()}, {OTHER.hex()} ,", "ENV", "test key") \
        == (OLD, OTHER)
    with pytest.raises(PepperInvalid, match="previous test key in ENV is not hex"):
        parse_previous_keys("zz", "ENV", "test key")
    with pytest.raises(PepperInvalid, match="needs 32"):
        _envelope(NEW, b"short")
    assert _envelope(NEW, NEW, OLD).open(_envelope(OLD).seal(b"v", AAD), AAD) == b"v"
