"""Who signs: a certificate chain plus either a private key file or a signing callback.

``SigningIdentity`` checks everything the C2PA SDK would otherwise reject late and vaguely
("the certificate is invalid") when the identity is built, with one precise ``SigningKeyInvalid``
``reason`` per condition. The checks follow what c2pa-python 0.38.1 was measured to accept:

- the chain is PEM, leaf first, each certificate issued by the next (a trailing root is allowed);
- the leaf is not self-signed, not a CA, inside its validity period (so is every certificate in
  the chain), has KeyUsage digitalSignature and an Authority Key Identifier;
- the leaf's EKU includes one of ``ACCEPTED_EKUS``. emailProtection, timeStamping and
  OCSPSigning pass the SDK's default trust configuration; documentSigning and C2PA claimSigning
  pass only where ``trust.trust_config`` lists them, which our signing and reading contexts do
  (``C2PA_TRUST_CONFIG``) — readers with default settings would call such files Invalid, so
  prefer emailProtection until the ecosystem's defaults catch up;
- the key type picks the algorithm: EC P-256/384/521 -> ES256/384/512, Ed25519, RSA -> PS256;
- a key file must hold the leaf's private key (unencrypted PEM: decrypt with the secret store).

The callback (KMS/HSM) receives the COSE ``Sig_structure`` bytes and returns the signature over
them. For ECDSA it may return either DER (what ``cryptography``, AWS KMS, Cloud KMS and PKCS#11
wrappers produce) or raw ``r || s`` (IEEE P1363, what COSE stores): the SDK converts DER itself
(both measured to read back ``Trusted``). If the callback raises, signing fails with
``SigningFailed`` naming the callback's error.

An optional RFC 3161 timestamp authority URL makes manifests outlive the leaf certificate.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from c2pa import C2paSigningAlg
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from policy.errors import SigningKeyInvalid

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
ACCEPTED_EKUS = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    DOCUMENT_SIGNING: "documentSigning",
    C2PA_CLAIM_SIGNING: "c2pa-kp-claimSigning",
}
# The SDK's ``trust.trust_config``: the EKUs a signing certificate may carry, one OID a line.
C2PA_TRUST_CONFIG = "".join(f"{oid.dotted_string}\n" for oid in ACCEPTED_EKUS)
_EC_ALGORITHMS = {"secp256r1": C2paSigningAlg.ES256, "secp384r1": C2paSigningAlg.ES384,
                  "secp521r1": C2paSigningAlg.ES512}
_TSA_URL = re.compile(r"https?://[^\s/]+(/\S*)?")

SignCallback = Callable[[bytes], bytes]
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningIdentity:
    """A validated signer. Build it with ``from_files`` or ``from_callback``."""

    chain_pem: bytes = field(repr=False)  # leaf first, then intermediates
    algorithm: C2paSigningAlg = field(init=False)
    tsa_url: str | None = None
    private_key_pem: bytes | None = field(default=None, repr=False, compare=False)
    sign: SignCallback | None = field(default=None, repr=False, compare=False)
    signer_name: str = field(init=False)  # the leaf's common name
    not_after: dt.datetime = field(init=False)  # the leaf's expiry (UTC)

    def __post_init__(self) -> None:
        if (self.private_key_pem is None) == (self.sign is None):
            raise SigningKeyInvalid("a signing identity needs exactly one of a private key "
                                    "or a signing callback", reason="no_key")
        chain = _load_chain(self.chain_pem)
        _check_chain(chain, dt.datetime.now(dt.timezone.utc))
        leaf = chain[0]
        object.__setattr__(self, "algorithm", _algorithm(leaf))
        if self.private_key_pem is not None:
            _check_key_matches(_load_key(self.private_key_pem), leaf)
        if self.tsa_url is not None and not _TSA_URL.fullmatch(self.tsa_url):
            raise SigningKeyInvalid(f"timestamp authority URL {self.tsa_url!r} is not an "
                                    "http(s) URL", reason="tsa_url")
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        object.__setattr__(self, "signer_name", str(names[0].value) if names else
                           leaf.subject.rfc4514_string())
        object.__setattr__(self, "not_after", leaf.not_valid_after_utc)

    @classmethod
    def from_files(cls, chain_path: Path, key_path: Path,
                   tsa_url: str | None = None) -> SigningIdentity:
        """A chain PEM file (leaf first) and the leaf's unencrypted PEM private key file."""
        return cls(chain_pem=_read(Path(chain_path), "certificate chain"), tsa_url=tsa_url,
                   private_key_pem=_read(Path(key_path), "private key"))

    @classmethod
    def from_callback(cls, chain_pem: bytes, sign: SignCallback,
                      tsa_url: str | None = None) -> SigningIdentity:
        """A chain and a callback that signs bytes with the leaf's key (KMS/HSM)."""
        return cls(chain_pem=chain_pem, sign=sign, tsa_url=tsa_url)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyInvalid(f"{what} file {path} does not exist", reason="missing",
                                path=str(path)) from None
    except OSError as exc:
        raise SigningKeyInvalid(f"{what} file {path} cannot be read: {exc.strerror or exc}",
                                reason="unreadable", path=str(path)) from None


def _load_chain(chain_pem: bytes) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise SigningKeyInvalid(f"certificate chain is not PEM certificates: {exc}",
                                reason="chain_unreadable") from None
    if not chain:
        raise SigningKeyInvalid("certificate chain is empty", reason="chain_unreadable")
    return chain


def _load_key(key_pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise SigningKeyInvalid("private key is encrypted: decrypt it from the secret store "
                                "or sign through a callback", reason="key_encrypted") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningKeyInvalid(f"private key is not a PEM private key: {exc}",
                                reason="key_unreadable") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                            rsa.RSAPrivateKey)):
        raise SigningKeyInvalid(f"unsupported private key type {type(key).__name__}",
                                reason="key_type")
    return key


def _check_chain(chain: list[x509.Certificate], now: dt.datetime) -> None:
    leaf = chain[0]
    if leaf.issuer == leaf.subject:
        raise SigningKeyInvalid("the signing certificate is self-signed; C2PA needs one issued "
                                "by a CA (see `likeness pki init`)", reason="self_signed")
    for position, certificate in enumerate(chain):
        subject = certificate.subject.rfc4514_string()
        if now > certificate.not_valid_after_utc:
            raise SigningKeyInvalid(
                f"certificate {position} ({subject}) expired on "
                f"{certificate.not_valid_after_utc.isoformat()}", reason="expired",
                position=position)
        if now < certificate.not_valid_before_utc:
            raise SigningKeyInvalid(
                f"certificate {position} ({subject}) is not valid before "
                f"{certificate.not_valid_before_utc.isoformat()}", reason="not_yet_valid",
                position=position)
        if position + 1 < len(chain):
            try:
                certificate.verify_directly_issued_by(chain[position + 1])
            except (ValueError, TypeError, InvalidSignature):
                raise SigningKeyInvalid(
                    f"certificate {position} ({subject}) is not issued by the next certificate "
                    "in the chain (order: leaf first, then intermediates)",
                    reason="chain_broken", position=position) from None
    _check_leaf_extensions(leaf)


def _check_leaf_extensions(leaf: x509.Certificate) -> None:
    extensions = leaf.extensions
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise SigningKeyInvalid("the signing certificate is a CA certificate",
                                    reason="leaf_is_ca")
    except x509.ExtensionNotFound:
        pass
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        signs = usage.digital_signature
    except x509.ExtensionNotFound:
        signs = False
    if not signs:
        raise SigningKeyInvalid("the signing certificate lacks KeyUsage digitalSignature",
                                reason="key_usage")
    try:
        extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        raise SigningKeyInvalid("the signing certificate lacks an Authority Key Identifier",
                                reason="key_identifiers") from None
    try:
        ekus = set(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        ekus = set()
    if not ekus & set(ACCEPTED_EKUS):
        raise SigningKeyInvalid(
            "the signing certificate's extended key usage "
            f"({', '.join(sorted(oid.dotted_string for oid in ekus)) or 'none'}) includes none "
            f"C2PA accepts ({', '.join(ACCEPTED_EKUS.values())})", reason="extended_key_usage")


def _algorithm(leaf: x509.Certificate) -> C2paSigningAlg:
    public = leaf.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in _EC_ALGORITHMS:
        return _EC_ALGORITHMS[public.curve.name]
    if isinstance(public, ed25519.Ed25519PublicKey):
        return C2paSigningAlg.ED25519
    if isinstance(public, rsa.RSAPublicKey) and public.key_size >= 2048:
        return C2paSigningAlg.PS256
    raise SigningKeyInvalid(f"unsupported signing key {type(public).__name__} "
                            "(use EC P-256/384/521, Ed25519 or RSA >= 2048)", reason="key_type")


def _check_key_matches(key: PrivateKey, leaf: x509.Certificate) -> None:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise SigningKeyInvalid("the private key does not match the signing certificate "
                                "(first certificate of the chain)", reason="key_mismatch")
