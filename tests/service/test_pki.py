"""The development PKI: a real root -> intermediate -> leaf chain C2PA accepts, kept private."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from policy.provenance import SigningIdentity
from service.errors import KeysMissing, PkiExists
from service.pki import create_development_pki, load_development_pki


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_a_private_three_level_hierarchy(tmp_path: Path) -> None:
    paths = create_development_pki(tmp_path / "pki", organisation="Acme Studio", valid_days=30)
    assert _mode(paths.directory) == 0o700
    for key in (paths.root_key, paths.intermediate_key, paths.signing_key):
        assert _mode(key) == 0o600
    root = x509.load_pem_x509_certificate(paths.root_cert.read_bytes())
    leaf, intermediate = x509.load_pem_x509_certificates(paths.chain.read_bytes())
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    leaf_key = leaf.public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey) and leaf_key.curve.name == "secp256r1"
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime == dt.timedelta(days=30)
    assert "Acme Studio" in leaf.subject.rfc4514_string()
    # The chain and key are what a signing identity accepts.
    assert SigningIdentity.from_files(paths.chain, paths.signing_key).signer_name \
        == "Acme Studio signer"


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    first = create_development_pki(tmp_path)
    root = first.root_cert.read_bytes()
    with pytest.raises(PkiExists) as caught:
        create_development_pki(tmp_path)
    assert caught.value.code == "pki_exists"
    assert first.root_cert.read_bytes() == root
    second = create_development_pki(tmp_path, overwrite=True)
    assert second.root_cert.read_bytes() != root
    assert _mode(second.signing_key) == 0o600
    assert not list(tmp_path.glob(".*.tmp"))


def test_load_finds_it_or_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(KeysMissing, match="pki init"):
        load_development_pki(tmp_path / "none")
    created = create_development_pki(tmp_path / "pki")
    assert load_development_pki(tmp_path / "pki") == created
    created.signing_key.unlink()
    with pytest.raises(KeysMissing, match="signer.key"):
        load_development_pki(tmp_path / "pki")


def test_rejects_nonsense_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid_days"):
        create_development_pki(tmp_path, valid_days=0)
    with pytest.raises(ValueError, match="organisation"):
        create_development_pki(tmp_path, organisation=" ")
    assert not any(tmp_path.iterdir())
