"""The service's settings: one pydantic-settings class, read from ``LIKENESS_*`` variables.

Built once at the edges (the CLI today; the app factory and worker bootstrap later) and passed
down as plain values. Secrets and keys never live in the repository: by default they sit in the
data directory, which ``likeness pki init`` fills for development. Production points the signing
settings at a real certificate chain and key and supplies the watermark secret from its vault.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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
    # PostgreSQL connections an API process keeps open. Requests run on up to 40 threads; a
    # burst past the pool opens (and then closes) extra connections, each a new PostgreSQL
    # backend costing milliseconds on the request that waited for it. Keep
    # (API processes x (this + 10)) + workers' under PostgreSQL's max_connections.
    database_pool_size: int = Field(default=20, ge=1, le=200)
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

    # -- partner HTTP API (service.api, service.domain) --------------------------------------
    # Redis for per-key rate limits (and /readyz). Keys are prefixed so several deployments or
    # test runs can share one Redis.
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_key_prefix: str = "likeness:"
    # Fixed one-minute windows: requests per authenticated API key, and per client IP for
    # callers without a valid credential (the token endpoint included).
    rate_limit_per_minute: int = Field(default=120, gt=0)
    rate_limit_anonymous_per_minute: int = Field(default=20, gt=0)
    # Upload limits, checked on the bytes received (the claimed type is never trusted). A
    # whole request over ``max_request_bytes`` is refused before its body is parsed.
    max_request_bytes: int = Field(default=110 * 1024 * 1024, gt=0)
    max_portrait_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    max_portrait_pixels: int = Field(default=40_000_000, gt=0)
    max_audio_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_evidence_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_evidence_seconds: float = Field(default=900.0, gt=0)
    # The purposes a consent may cover (an officer approves a subset of the requested ones).
    consent_purposes: tuple[str, ...] = ("advertising", "dubbing", "education", "entertainment",
                                         "accessibility", "internal_testing")
    # dlib 128-D distance at or below which two portraits are the same person (measured: same
    # person 0.34-0.42, different people 0.76-0.91; dlib's own threshold 0.6 is looser).
    face_match_threshold: float = Field(default=0.5, gt=0, lt=2)
    # OAuth2 client credentials: HS256 access tokens signed with this secret (>= 32 bytes as
    # hex; ``data_dir/oauth-signing-key`` when unset, created 0600 on first use).
    oauth_signing_key: SecretStr | None = None
    oauth_issuer: str = "likeness"
    oauth_token_ttl_seconds: int = Field(default=900, gt=0, le=3600)
    # Compliance staff tokens (issued by the operator CLI until single sign-on is wired).
    staff_token_ttl_seconds: int = Field(default=8 * 3600, gt=0, le=24 * 3600)
    # Uploaded media; ``data_dir/blobs`` when unset.
    blob_dir: Path | None = None

    @property
    def oauth_signing_key_file(self) -> Path:
        return self.data_dir / "oauth-signing-key"

    @property
    def blob_root(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    # -- retention ----------------------------------------------------------------------------
    # Uploaded portraits and speech are deleted this many days after upload, once no queued or
    # running job needs them (reference portraits and consent evidence stay with their
    # consent). Unset: kept. Purged by the workers' maintenance loop.
    media_retention_days: float | None = Field(default=None, gt=0)
    # Released videos' bytes are deleted this many days after release. The artifact row stays
    # (the provenance registry still answers ``POST /v1/verify`` for copies held elsewhere,
    # saying the service no longer holds the file); a video under an open misuse report is
    # kept as evidence until the report is resolved. Downloading a deleted video is 410
    # ``artifact_purged``. Unset: kept. Purged by the workers' maintenance loop.
    artifact_retention_days: float | None = Field(default=None, gt=0)
    # Blobs no row holds (an upload rolled back after its bytes were written, a render whose
    # lease was lost, a crash between a purge's commit and its deletion) are deleted once this
    # many hours old, by each worker at most once an hour (``sweep_orphan_blobs``). It must
    # exceed the longest time from a blob's write to its row's commit (seconds) and any clock
    # skew with the storage (an S3 server, a network filesystem); at least 1. The blob store
    # must hold this deployment's blobs only. None (only from code): never swept.
    orphan_blob_grace_hours: float | None = Field(default=24.0, ge=1)

    # -- jobs, outbox and GPU workers (service.jobs) -------------------------------------------
    # Celery broker: "redis://host:6379/0" in deployment; empty means the embedded default,
    # kombu's SQLAlchemy transport on ``data_dir/broker.db`` (a real broker with no Redis).
    broker_url: str = ""
    # Task results are not needed (a job's state lives in the jobs table); set one to wait on
    # task results from a client (tests do).
    result_backend: str | None = None
    gpu_queue: str = "gpu"
    # A running job's lease: a worker renews it every heartbeat; a job whose lease has expired
    # (its worker died) is re-queued. Cancellation is noticed within one heartbeat.
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    # A job whose worker died this many times is failed ("attempts_exhausted"), not re-queued.
    job_max_attempts: int = Field(default=3, ge=1)
    # Torch device for the model ("cuda:1", "cpu"); unset: the first CUDA device, else the CPU.
    device: str | None = None
    # The outbox relay and lease reaper run every ``maintenance_interval_seconds``; a job still
    # queued this long after its task was sent is sent again (the broker may have lost it).
    maintenance_interval_seconds: float = Field(default=2.0, gt=0)
    outbox_resend_after_seconds: float = Field(default=900.0, gt=0)
    # Jobs an organisation may submit per calendar month (UTC), counted in the jobs table so the
    # quota survives restarts; test keys (the sandbox) have their own, smaller one.
    job_quota_live_per_month: int = Field(default=10_000, ge=0)
    job_quota_test_per_month: int = Field(default=100, ge=0)

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:  # one missed beat must not lose it
            raise ValueError(f"heartbeat_seconds ({self.heartbeat_seconds}) must be at most half "
                             f"of lease_seconds ({self.lease_seconds})")
        return self

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.db'}"

    # -- webhooks, verification, misuse reports, metrics (service.webhooks, service.api) -----
    # AES-256-GCM key (64 hex digits) that encrypts webhook signing secrets at rest; unset:
    # ``data_dir/webhook-secret-key`` (created 0600 on first use). The service must be able to
    # recover each secret to sign with it (HMAC), so unlike API keys it cannot store a hash.
    webhook_secret_key: SecretStr | None = None
    # Keys retired by a rotation (comma-separated, 64 hex digits each): they open secrets
    # sealed under them, never seal; ``likeness keys rotate-webhook-secrets`` re-seals those
    # under the current key, after which they can be dropped (README, "Rotating keys").
    webhook_secret_previous_keys: SecretStr | None = None
    # Destinations (CIDR networks such as "10.20.0.0/16" or "127.0.0.1/32") that an operator
    # allows despite the server-side request forgery guard, on any port. Empty in production.
    webhook_allowed_networks: tuple[str, ...] = ()
    webhook_allowed_ports: tuple[int, ...] = (80, 443, 8080, 8443)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=8, ge=1, le=30)
    # Retry n waits base * 2**(n-1), capped, times a random factor in [0.5, 1) (jitter).
    webhook_backoff_base_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    # POST /v1/verify and video misuse reports: the upload limit, and the per-IP limit for
    # callers without a credential (a check decodes up to 10 s of video, so it is low).
    max_verify_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    rate_limit_verify_anonymous_per_minute: int = Field(default=6, gt=0)
    # Bearer token GET /metrics requires; unset: /metrics is open (scrape it on a private port).
    metrics_token: SecretStr | None = None

    @property
    def webhook_secret_key_file(self) -> Path:
        return self.data_dir / "webhook-secret-key"

    # -- blob storage backend (service.storage) ------------------------------------------------
    # "local": content-addressed files under ``blob_root`` (one host). "s3": an S3-compatible
    # bucket shared by the API and every worker; credentials come from boto3's usual chain
    # (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, an instance role), never from here.
    blob_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    # An S3-compatible server ("http://minio:9000"); unset: AWS S3 itself.
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # Object keys are ``<prefix>/sha256/..``: several deployments can share one bucket, each
    # under a prefix of its own (each one's orphan sweep deletes what its database lacks).
    s3_prefix: str = ""

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> Settings:
        if self.blob_backend == "s3" and not self.s3_bucket:
            raise ValueError("blob_backend 's3' needs s3_bucket")
        return self

    # -- audit trail: personal fields in events (service.audit.personal) -----------------------
    # AES-256-GCM master key (64 hex digits) wrapping each person's audit key; unset:
    # ``data_dir/audit-personal-key`` (created 0600 on first use). Erasing a person destroys
    # their wrapped key, so their fields in the immutable audit log can no longer be read.
    audit_personal_key: SecretStr | None = None

    @property
    def audit_personal_key_file(self) -> Path:
        return self.data_dir / "audit-personal-key"

    # -- consent requests: challenge, live capture, evidence checks (issue 5) ----------------
    # The random phrase of a consent request is valid this long, and usable once.
    consent_challenge_seconds: float = Field(default=1800.0, gt=0)
    # A consent recording (capture page or a partner's clip): size and duration limits.
    max_capture_bytes: int = Field(default=60 * 1024 * 1024, gt=0)
    min_capture_seconds: float = Field(default=3.0, gt=0)
    max_capture_seconds: float = Field(default=120.0, gt=0)
    # The public base of capture links ("https://consent.example.com"); unset: the base URL
    # the partner's request came in on.
    public_base_url: str | None = None
    # AES-256-GCM key (64 hex digits) sealing captured face templates at rest; unset:
    # ``data_dir/face-template-key`` (created 0600 on first use).
    face_template_key: SecretStr | None = None
    # Keys retired by a rotation (comma-separated hex): they open, never seal; ``likeness keys
    # rotate-face-templates`` re-seals what they sealed under the current key.
    face_template_previous_keys: SecretStr | None = None

    @property
    def face_template_key_file(self) -> Path:
        return self.data_dir / "face-template-key"

    # -- audit log: sequencer, signed checkpoints (service.audit) -------------------------------
    # Ed25519 key that signs checkpoints (a note key file, ``PRIVATE+KEY+<origin>+...``);
    # unset: ``data_dir/audit-log.key``, written by ``likeness pki init``. Its name is the
    # log's origin, the first line of every checkpoint.
    audit_log_key: Path | None = None
    audit_log_origin: str = "likeness.local/audit"
    # The verifier key (``<origin>+<hash>+<base64>``) that checks checkpoints where the signing
    # key is not at hand; unset: derived from the signing key.
    audit_log_verifier_key: str | None = None
    # Checkpoints are also written here, one file per tree size, never overwritten: point it at
    # write-once storage (WORM bucket mount, append-only volume). Unset:
    # ``data_dir/audit-checkpoints``.
    audit_checkpoint_dir: Path | None = None
    # The workers' maintenance loop signs a checkpoint this often when the log has grown.
    audit_checkpoint_interval_seconds: float = Field(default=300.0, gt=0)
    # Each API process sequences the audit inbox this often (in a background thread), in
    # transactions of at most ``audit_sequencer_batch`` events; workers do it every maintenance
    # round.
    audit_sequencer_interval_seconds: float = Field(default=1.0, gt=0)
    audit_sequencer_batch: int = Field(default=1000, ge=1, le=20_000)

    @property
    def audit_log_key_file(self) -> Path:
        return self.audit_log_key or self.data_dir / "audit-log.key"

    @property
    def audit_checkpoint_root(self) -> Path:
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"

    # -- the subject's page, revocation and data minimisation (issue 5) ----------------------
    # Requests per minute per client IP to the subject's private page (GET /s/<token>, its
    # JSON and the revoke POST): the token is unguessable, the limit bounds guessing anyway.
    rate_limit_subject_page_per_minute: int = Field(default=30, gt=0)
    # Consent evidence media (a recorded statement, a signed form, a capture) is deleted this
    # many days after the consent was decided; its SHA-256, the check scores and the decision
    # stay. 0 (the default): at the first retention sweep after the decision. None (only from
    # code): kept. Pending consents keep their evidence for the officer.
    evidence_retention_days: float | None = Field(default=0.0, ge=0)
