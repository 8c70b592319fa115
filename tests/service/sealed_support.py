"""Values sealed the way the service stored them before key rotation existed (envelope version
1: ``0x01 || nonce || ciphertext+tag``, no key id), for tests that check they still open."""

from __future__ import annotations

import os
import uuid

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.domain.face_templates import PORTRAIT_LABEL


def seal_version_1(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, plain, aad)


def portrait_version_1(key: bytes, asset_id: uuid.UUID, organisation_id: uuid.UUID,
                       encoding: np.ndarray) -> bytes:
    """``TemplateBox.seal_portrait`` as it was: the same associated data, no key id."""
    return seal_version_1(key, np.asarray(encoding, "<f4").tobytes(),
                          PORTRAIT_LABEL + asset_id.bytes + organisation_id.bytes)


def template_version_1(key: bytes, template_id: uuid.UUID, subject_id: uuid.UUID,
                       encoding: np.ndarray) -> bytes:
    return seal_version_1(key, np.asarray(encoding, "<f4").tobytes(),
                          template_id.bytes + subject_id.bytes)


def secret_version_1(key: bytes, endpoint_id: uuid.UUID, secret: str) -> bytes:
    return seal_version_1(key, secret.encode("ascii"), endpoint_id.bytes)
