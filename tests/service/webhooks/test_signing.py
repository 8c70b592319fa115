"""Standard Webhooks signatures: the spec's own example, and every way a receiver refuses."""

from __future__ import annotations

import uuid

import pytest

from service.errors import (
    KeysError,
    RequestInvalid,
    SealingKeyMismatch,
    WebhookSignatureInvalid,
)
from service.webhooks.secrets import SecretBox
from service.webhooks.signing import new_secret, secret_key, sign, verify_delivery
from tests.service.sealed_support import secret_version_1

# The example in the Standard Webhooks specification: another implementation's output.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_matches_the_specification_example() -> None:
    headers = sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY)
    assert headers.signature == SPEC_SIGNATURE
    assert headers.as_dict() == {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS),
                                 "webhook-signature": SPEC_SIGNATURE}
    verify_delivery(SPEC_SECRET, headers.as_dict(), SPEC_BODY, now=SPEC_TS + 10)


def test_receiver_refuses_tampering_other_secrets_and_stale_timestamps() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret_key(secret)) == 32
    headers = sign(secret, "msg_1", 1_000_000, b'{"a":1}').as_dict()
    verify_delivery(secret, {k.upper(): v for k, v in headers.items()}, b'{"a":1}',
                    now=1_000_000)  # header names are case-insensitive
    cases = [
        (secret, headers, b'{"a":2}', 1_000_000),  # body changed
        (new_secret(), headers, b'{"a":1}', 1_000_000),  # another endpoint's secret
        (secret, headers | {"webhook-id": "msg_2"}, b'{"a":1}', 1_000_000),  # id swapped
        (secret, headers, b'{"a":1}', 1_000_000 + 301),  # replayed after the window
        (secret, headers, b'{"a":1}', 1_000_000 - 301),  # from the future
        (secret, {"webhook-id": "msg_1"}, b'{"a":1}', 1_000_000),  # headers missing
        (secret, headers | {"webhook-signature": "v2," + headers["webhook-signature"][3:]},
         b'{"a":1}', 1_000_000),  # unknown version
    ]
    for key, sent, body, now in cases:
        with pytest.raises(WebhookSignatureInvalid):
            verify_delivery(key, sent, body, now=now)


def test_any_of_several_signatures_may_match_during_rotation() -> None:
    old, new = new_secret(), new_secret()
    body = b"{}"
    both = f"{sign(old, 'msg_9', 50, body).signature} {sign(new, 'msg_9', 50, body).signature}"
    for secret in (old, new):
        verify_delivery(secret, {"webhook-id": "msg_9", "webhook-timestamp": "50",
                                 "webhook-signature": both}, body, now=50)


def test_malformed_secrets_are_refused() -> None:
    for bad in ("whsec_not base64!", "whsec_" + "QUJD"):  # not base64; 3 bytes
        with pytest.raises(RequestInvalid):
            secret_key(bad)


def test_secret_box_binds_ciphertexts_to_their_endpoint() -> None:
    box, secret = SecretBox(bytes(range(32))), new_secret()
    first, second = uuid.uuid4(), uuid.uuid4()
    sealed = box.seal(first, secret)
    assert secret.encode() not in sealed and box.open(first, sealed) == secret
    with pytest.raises(KeysError):
        box.open(second, sealed)  # copied onto another row
    with pytest.raises(KeysError):
        SecretBox(bytes(32)).open(first, sealed)  # the operator's key changed
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeysError):
        box.open(first, tampered)


def test_secret_box_opens_previous_keys_and_the_pre_rotation_form() -> None:
    old, new, secret, endpoint = bytes(range(32)), bytes(32), new_secret(), uuid.uuid4()
    stored = [SecretBox(old).seal(endpoint, secret), secret_version_1(old, endpoint, secret)]
    rotated = SecretBox(new, [old])
    for sealed in stored:
        assert rotated.open(endpoint, sealed) == secret and not rotated.is_current(sealed)
    assert rotated.is_current(rotated.seal(endpoint, secret))
    with pytest.raises(SealingKeyMismatch):  # the old key dropped too early
        SecretBox(new).open(endpoint, stored[0])
