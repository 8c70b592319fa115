"""The audit log's checkpoint signing key: created by ``likeness pki init``, loaded at the edges.

The key is an Ed25519 signed-note key named by the log's origin
(``LIKENESS_AUDIT_LOG_ORIGIN``); its file (``LIKENESS_AUDIT_LOG_KEY``, default
``data_dir/audit-log.key``) is created 0600 and never replaced: checkpoints signed with a
replaced key would no longer verify against the published verifier key.
"""

from __future__ import annotations

from pathlib import Path

from policy.audit.checkpoint import NoteSigner, NoteVerifier
from policy.errors import AuditKeyInvalid
from service.errors import KeysMissing
from service.settings import Settings


def create_log_key(settings: Settings) -> tuple[Path, bool]:
    """Generate the signing key unless its file exists; ``(path, created)``."""
    path = settings.audit_log_key_file
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    NoteSigner.generate(settings.audit_log_origin).save(path)
    return path, True


def load_log_signer(settings: Settings) -> NoteSigner:
    path = settings.audit_log_key_file
    if not path.is_file():
        raise KeysMissing(f"no audit log signing key at {path}: run `likeness pki init` "
                          "(development) or set LIKENESS_AUDIT_LOG_KEY", path=str(path))
    try:
        signer = NoteSigner.load(path)
    except AuditKeyInvalid as exc:
        raise KeysMissing(f"the audit log key {path} is unusable: {exc.message}",
                          path=str(path)) from exc
    if signer.name != settings.audit_log_origin:
        raise KeysMissing(f"the audit log key {path} is named {signer.name!r}, not the "
                          f"configured origin {settings.audit_log_origin!r}", path=str(path))
    return signer


def load_log_verifier(settings: Settings) -> NoteVerifier:
    """The configured verifier key, else the signing key's public half."""
    if settings.audit_log_verifier_key:
        try:
            verifier = NoteVerifier.from_vkey(settings.audit_log_verifier_key)
        except AuditKeyInvalid as exc:
            raise KeysMissing(f"LIKENESS_AUDIT_LOG_VERIFIER_KEY is unusable: {exc.message}"
                              ) from exc
        if verifier.name != settings.audit_log_origin:
            raise KeysMissing(f"the audit log verifier key is named {verifier.name!r}, not the "
                              f"configured origin {settings.audit_log_origin!r}")
        return verifier
    return load_log_signer(settings).verifier
