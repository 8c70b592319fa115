"""The operator's secrets for the release path: the C2PA signing identity, the trust anchors a
reader accepts, and the watermark key.

Production configures them (``LIKENESS_SIGNING_CHAIN`` / ``_KEY`` / ``_TSA_URL`` /
``_TRUST_ANCHORS`` / ``_WATERMARK_KEY``); development runs ``likeness pki init``, which writes a
development PKI and a fresh watermark key into the data directory (mode 0600, never in git).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from policy.errors import PolicyError
from policy.provenance import SigningIdentity
from policy.watermark import WatermarkKey
from service.audit.log_keys import create_log_key
from service.errors import KeysMissing, PkiExists
from service.pki import PkiPaths, create_development_pki, load_development_pki
from service.settings import Settings

_INIT_HINT = "run `likeness pki init` (development) or configure LIKENESS_SIGNING_CHAIN/_KEY"


@dataclass(frozen=True)
class DevelopmentKeys:
    """What ``likeness pki init`` wrote."""

    pki: PkiPaths
    watermark_key_file: Path
    watermark_key_id: str
    audit_log_key_file: Path  # signs the audit log's checkpoints


def init_development_keys(settings: Settings, overwrite: bool = False) -> DevelopmentKeys:
    """Create the development PKI and watermark key in ``settings.data_dir``.

    Refuses (``PkiExists``) when either exists, unless ``overwrite``: replacing the watermark key
    makes every earlier video unreadable to the detector, so it is never done silently.
    """
    key_file = settings.watermark_key_file
    if key_file.exists() and not overwrite:
        raise PkiExists(f"a watermark key already exists at {key_file}; pass --force to replace "
                        "it (videos marked with the old key will no longer be recognised)",
                        path=str(key_file))
    pki = create_development_pki(settings.pki_dir, overwrite=overwrite)
    key = WatermarkKey.generate()
    _write_secret(key_file, key.to_hex() + "\n")
    audit_log_key, _ = create_log_key(settings)  # kept even with overwrite (see log_keys)
    return DevelopmentKeys(pki, key_file, key.key_id, audit_log_key)


def development_keys_exist(settings: Settings) -> bool:
    """Both halves present: a loadable development PKI and a watermark key file."""
    if not settings.watermark_key_file.is_file():
        return False
    try:
        load_development_pki(settings.pki_dir)
    except KeysMissing:
        return False
    return True


def signing_identity(settings: Settings) -> SigningIdentity:
    """The configured chain + key, else the development PKI's signer."""
    if settings.signing_chain or settings.signing_key:
        if not (settings.signing_chain and settings.signing_key):
            raise KeysMissing("LIKENESS_SIGNING_CHAIN and LIKENESS_SIGNING_KEY must be set together")
        return SigningIdentity.from_files(settings.signing_chain, settings.signing_key,
                                          tsa_url=settings.tsa_url)
    pki = _development_pki(settings)
    return SigningIdentity.from_files(pki.chain, pki.signing_key, tsa_url=settings.tsa_url)


def trust_anchors(settings: Settings) -> bytes | None:
    """PEM roots a reader trusts: the configured file, else the development root if present."""
    if settings.trust_anchors is not None:
        try:
            return settings.trust_anchors.read_bytes()
        except OSError as exc:
            raise KeysMissing(f"cannot read trust anchors {settings.trust_anchors}: {exc}",
                              path=str(settings.trust_anchors)) from exc
    try:
        return load_development_pki(settings.pki_dir).root_cert.read_bytes()
    except (PolicyError, KeysMissing, OSError):
        return None


def watermark_key(settings: Settings) -> WatermarkKey:
    """The configured secret, else ``data_dir/watermark.key``."""
    if settings.watermark_key is not None:
        return WatermarkKey.from_hex(settings.watermark_key.get_secret_value())
    try:
        text = settings.watermark_key_file.read_text()
    except FileNotFoundError:
        raise KeysMissing(f"no watermark key at {settings.watermark_key_file}; {_INIT_HINT}",
                          path=str(settings.watermark_key_file)) from None
    return WatermarkKey.from_hex(text.strip())


def _development_pki(settings: Settings) -> PkiPaths:
    try:
        return load_development_pki(settings.pki_dir)
    except KeysMissing as exc:
        raise KeysMissing(f"no signing identity: {_INIT_HINT} ({exc.message})",
                          **exc.context) from exc


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temp, path)
