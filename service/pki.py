"""A development PKI for C2PA signing: root CA -> intermediate CA -> ES256 signing leaf.

C2PA readers refuse a self-signed signer, so even a laptop needs a small hierarchy. This module
makes one in the data directory (never in the repository) with the properties the C2PA SDK
checks, measured with c2pa-python 0.38.1:

- root: P-384, ``CA:true``, keyCertSign + cRLSign, SKI. Operators hand ``root.pem`` to readers
  as a trust anchor, which turns a file's C2PA state from ``Valid`` into ``Trusted``.
- intermediate: P-256, ``CA:true, pathlen:0``, keyCertSign + cRLSign, SKI/AKI.
- leaf: P-256 (ES256), ``CA:false``, KeyUsage digitalSignature (critical), SKI/AKI and the EKU
  emailProtection — the one EKU the SDK's default trust configuration accepts that needs no
  settings on the reading side (documentSigning alone does; serverAuth/codeSigning fail).

``chain.pem`` is what the signer sends: leaf first, then the intermediate, no root. Every private
key is written 0600 and the directory is 0700. The CA keys stay beside the certificates so a
developer can re-issue the leaf; production never uses this module — it brings its own chain and
key file, or a KMS/HSM callback (``policy.provenance.SigningIdentity``).

Each file is written under a temporary name with its final mode and renamed into place, so a key
is never briefly world-readable and no file is ever half-written.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.errors import KeysMissing, PkiExists

CA_VALID_DAYS = 3650
# Certificates start a little in the past so a reader whose clock lags still accepts them.
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class PkiPaths:
    """Where the development PKI's files live (all PEM)."""

    directory: Path
    root_cert: Path  # trust anchor for readers
    root_key: Path  # 0600
    intermediate_cert: Path
    intermediate_key: Path  # 0600
    leaf_cert: Path
    chain: Path  # leaf + intermediate, what the signer presents
    signing_key: Path  # leaf private key, 0600

    @classmethod
    def in_directory(cls, directory: Path) -> PkiPaths:
        return cls(
            directory=directory,
            root_cert=directory / "root.pem",
            root_key=directory / "root.key",
            intermediate_cert=directory / "intermediate.pem",
            intermediate_key=directory / "intermediate.key",
            leaf_cert=directory / "signer.pem",
            chain=directory / "chain.pem",
            signing_key=directory / "signer.key",
        )

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.root_cert, self.root_key, self.intermediate_cert, self.intermediate_key,
                self.leaf_cert, self.chain, self.signing_key)


def create_development_pki(
    directory: Path,
    organisation: str = "likeness development",
    *,
    overwrite: bool = False,
    valid_days: int = 365,
) -> PkiPaths:
    """Create root -> intermediate -> signing leaf in ``directory``; return where they are.

    Raises ``PkiExists`` if any PKI file is already there (unless ``overwrite``), and
    ``ValueError`` for a non-positive ``valid_days`` or an empty organisation.
    """
    if valid_days < 1:
        raise ValueError(f"valid_days must be at least 1, got {valid_days}")
    if not organisation.strip():
        raise ValueError("organisation must not be empty")
    paths = PkiPaths.in_directory(Path(directory))
    existing = [p for p in paths.files if p.exists()]
    if existing and not overwrite:
        raise PkiExists(
            f"a development PKI already exists in {paths.directory} "
            f"({existing[0].name}); pass overwrite to replace it",
            directory=str(paths.directory),
        )
    paths.directory.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.directory, 0o700)

    now = dt.datetime.now(dt.timezone.utc) - CLOCK_SKEW
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = _name(f"{organisation} root CA", organisation)
    root = _ca_certificate(root_name, root_key, root_name, root_key, now, CA_VALID_DAYS, None)

    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter_name = _name(f"{organisation} intermediate CA", organisation)
    inter = _ca_certificate(inter_name, inter_key, root_name, root_key, now, CA_VALID_DAYS, 0)

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf_certificate(_name(f"{organisation} signer", organisation), leaf_key,
                             inter, inter_key, now, min(valid_days, CA_VALID_DAYS))

    pem = serialization.Encoding.PEM
    _write(paths.root_cert, root.public_bytes(pem), 0o644)
    _write(paths.intermediate_cert, inter.public_bytes(pem), 0o644)
    _write(paths.leaf_cert, leaf.public_bytes(pem), 0o644)
    _write(paths.chain, leaf.public_bytes(pem) + inter.public_bytes(pem), 0o644)
    _write(paths.root_key, _key_pem(root_key), 0o600)
    _write(paths.intermediate_key, _key_pem(inter_key), 0o600)
    _write(paths.signing_key, _key_pem(leaf_key), 0o600)
    return paths


def load_development_pki(directory: Path) -> PkiPaths:
    """The PKI in ``directory``; ``KeysMissing`` naming the first absent file if incomplete."""
    paths = PkiPaths.in_directory(Path(directory))
    for path in (paths.root_cert, paths.chain, paths.signing_key):
        if not path.is_file():
            raise KeysMissing(
                f"no development PKI in {paths.directory}: {path.name} is missing "
                "(run `likeness pki init`)",
                directory=str(paths.directory), missing=path.name,
            )
    return paths


# -- certificates --------------------------------------------------------------------------------


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ])


def _ca_certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    days: int,
    path_length: int | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_key is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    digest = hashes.SHA384() if isinstance(issuer_key.curve, ec.SECP384R1) else hashes.SHA256()
    return builder.sign(issuer_key, digest)


def _leaf_certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    days: int,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write via a temporary file created with ``mode`` (a key is never briefly world-readable)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # the umask may have narrowed a 0644 file; keys stay 0600
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
