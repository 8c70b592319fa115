"""The service's settings: one pydantic-settings class, read from ``LIKENESS_*`` variables.

Built once at the edges (the CLI today; the app factory and worker bootstrap later) and passed
down as plain values. Secrets and keys never live in the repository: by default they sit in the
data directory, which ``likeness pki init`` fills for development. Production points the signing
settings at a real certificate chain and key and supplies the watermark secret from its vault.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/likeness`` (``~/.local/share/likeness``): per user, outside any checkout."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "likeness"


class Settings(BaseSettings):
    """Every knob of the release path. Paths left unset default to files in ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # C2PA signing: a PEM chain (leaf first, then intermediates, no root) and its private key.
    signing_chain: Path | None = None
    signing_key: Path | None = None
    # RFC 3161 timestamp authority: without one a manifest stops validating when the leaf expires.
    tsa_url: str | None = None
    # PEM roots a reader trusts; the development root when unset.
    trust_anchors: Path | None = None
    # The watermark secret as 64 hex digits; ``data_dir/watermark.key`` when unset.
    watermark_key: SecretStr | None = None
    max_audio_seconds: float = Field(default=600.0, gt=0)
    # H.264 quality of released files (lower is better); the watermark is tuned for <= 23.
    video_crf: int = Field(default=20, ge=0, le=51)

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def watermark_key_file(self) -> Path:
        return self.data_dir / "watermark.key"

    # -- persistence and partner credentials (service.db, service.auth) ---------------------
    # SQLAlchemy URL: "postgresql+psycopg://user@host/db" in deployment; empty means the
    # embedded default, a SQLite file ``data_dir/likeness.db`` (filled in by the validator).
    database_url: str = ""
    # Server-side secret for the keyed hashes (HMAC-SHA256) of partner API keys; at least 32
    # bytes as hex. Unset: ``data_dir/api-key-pepper`` (created 0600 on first use by
    # ``service.auth.pepper.load_api_key_pepper``). Changing it invalidates every API key.
    api_key_pepper: SecretStr | None = None

    @model_validator(mode="after")
    def _default_database_url(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'likeness.db'}"
        return self

    @property
    def api_key_pepper_file(self) -> Path:
        return self.data_dir / "api-key-pepper"
