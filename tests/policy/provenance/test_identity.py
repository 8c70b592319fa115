"""Signing identities are checked when built, with one precise reason per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from c2pa import C2paSigningAlg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from policy.errors import SigningKeyInvalid
from policy.provenance import SigningIdentity, read_manifest, sign_video
from policy.provenance.identity import DOCUMENT_SIGNING
from service.pki import PkiPaths
from tests.policy.provenance.conftest import issue_leaf, make_claim


def _reason(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SigningKeyInvalid) as caught:
        call()
    assert caught.value.code == "signing_key_invalid"
    return str(caught.value.context["reason"])


def test_development_pki_gives_an_es256_identity(identity: SigningIdentity) -> None:
    assert identity.algorithm is C2paSigningAlg.ES256
    assert identity.signer_name == "likeness development signer"
    assert "BEGIN" not in repr(identity)  # no key (or chain) material in logs


def test_missing_files(tmp_path: Path, pki: PkiPaths) -> None:
    assert _reason(lambda: SigningIdentity.from_files(tmp_path / "no.pem", pki.signing_key)) \
        == "missing"
    assert _reason(lambda: SigningIdentity.from_files(pki.chain, tmp_path / "no.key")) \
        == "missing"


def test_garbage_chain_and_key(tmp_path: Path, pki: PkiPaths) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert _reason(lambda: SigningIdentity.from_files(junk, pki.signing_key)) \
        == "chain_unreadable"
    assert _reason(lambda: SigningIdentity.from_files(pki.chain, junk)) == "key_unreadable"


def test_encrypted_key_is_refused_with_advice(tmp_path: Path, pki: PkiPaths) -> None:
    key = serialization.load_pem_private_key(pki.signing_key.read_bytes(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    assert _reason(lambda: SigningIdentity.from_files(pki.chain, locked)) == "key_encrypted"


def test_key_not_matching_the_certificate(tmp_path: Path, pki: PkiPaths) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert _reason(lambda: SigningIdentity.from_files(pki.chain, other)) == "key_mismatch"


def test_self_signed_leaf(tmp_path: Path, pki: PkiPaths) -> None:
    chain, key = issue_leaf(pki, tmp_path, self_signed=True)
    assert _reason(lambda: SigningIdentity.from_files(chain, key)) == "self_signed"


def test_expired_and_future_leaves(tmp_path: Path, pki: PkiPaths) -> None:
    chain, key = issue_leaf(pki, tmp_path, days=(-30, -1))
    assert _reason(lambda: SigningIdentity.from_files(chain, key)) == "expired"
    chain, key = issue_leaf(pki, tmp_path, days=(1, 30))
    assert _reason(lambda: SigningIdentity.from_files(chain, key)) == "not_yet_valid"


@pytest.mark.parametrize("ekus", [(ExtendedKeyUsageOID.SERVER_AUTH,),
                                  (ExtendedKeyUsageOID.CODE_SIGNING,), ()],
                         ids=["serverAuth", "codeSigning", "none"])
def test_wrong_extended_key_usage(tmp_path: Path, pki: PkiPaths, ekus: tuple) -> None:
    chain, key = issue_leaf(pki, tmp_path, ekus=ekus)
    assert _reason(lambda: SigningIdentity.from_files(chain, key)) == "extended_key_usage"


def test_chain_in_wrong_order(tmp_path: Path, pki: PkiPaths) -> None:
    reversed_chain = tmp_path / "reversed.pem"
    reversed_chain.write_bytes(pki.intermediate_cert.read_bytes() + pki.leaf_cert.read_bytes())
    assert _reason(lambda: SigningIdentity.from_files(reversed_chain, pki.signing_key)) \
        == "chain_broken"
    broken = tmp_path / "broken.pem"
    broken.write_bytes(pki.leaf_cert.read_bytes() + pki.root_cert.read_bytes())
    assert _reason(lambda: SigningIdentity.from_files(broken, pki.signing_key)) \
        == "chain_broken"


def test_bad_timestamp_url_and_no_key(pki: PkiPaths) -> None:
    assert _reason(lambda: SigningIdentity.from_files(
        pki.chain, pki.signing_key, tsa_url="ftp://tsa.example")) == "tsa_url"
    assert _reason(lambda: SigningIdentity(chain_pem=pki.chain.read_bytes())) == "no_key"


def test_a_leaf_issued_with_accepted_eku_signs_trusted(
        tmp_path: Path, pki: PkiPaths, source_mp4: Path, root_pem: bytes) -> None:
    # documentSigning alone passes only with our trust configuration on both sides.
    chain, key = issue_leaf(pki, tmp_path, ekus=(DOCUMENT_SIGNING,))
    sign_video(source_mp4, tmp_path / "doc.mp4", make_claim(),
               SigningIdentity.from_files(chain, key))
    assert read_manifest(tmp_path / "doc.mp4", root_pem).state == "Trusted"
