"""Consent clips built once per test session (``tests.consent_clips``) and the keys they need."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.provenance import SigningIdentity
from policy.watermark import WatermarkKey
from service.pki import create_development_pki
from tests.consent_clips import ConsentClips


@pytest.fixture(scope="session")
def consent_clips(tmp_path_factory: pytest.TempPathFactory) -> ConsentClips:
    return ConsentClips(tmp_path_factory.mktemp("consent-clips"))


@pytest.fixture(scope="session")
def watermark_key() -> WatermarkKey:
    return WatermarkKey(bytes(range(32)))


@pytest.fixture(scope="session")
def signing_identity(tmp_path_factory: pytest.TempPathFactory) -> SigningIdentity:
    pki = create_development_pki(Path(tmp_path_factory.mktemp("consent-pki")) / "pki")
    return SigningIdentity.from_files(pki.chain, pki.signing_key)
