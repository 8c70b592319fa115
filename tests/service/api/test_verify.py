"""``POST /v1/verify`` on a real released video (model, watermark, C2PA with a development
PKI) made once for the module, registered in the provenance registry: what anonymous callers,
partners, verifiers and officers each see, consent revoked after release, an asset the
registry does not know, and uploads that are not videos."""

from __future__ import annotations

import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from model.controls import Controls
from service.audit.sequencer import sequence_pending
from service.api.tokens import issue_staff_token, load_signing_key
from service.auth import create_organisation
from service.db import AuditContext
from service.db.models import Artifact, AuditEventRow, Consent, ConsentStatus, Role
from service.jobs.retention import purge_expired_artifacts
from service.keys import init_development_keys, watermark_key
from service.media.audio import load_audio
from service.release.generate import GenerationRequest, ReleasePath
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.service.api.conftest import World, build_world, error_code, make_settings
from tests.service.api.registry_support import (
    CLI,
    Registered,
    marked_video,
    random_asset_id,
    registered_artifact,
    staff_user,
)

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "assets" / "samples"
PUBLIC_KEYS = {"issued_by", "asset_id", "matched_by", "created_at", "environment",
               "consent_status", "consent_revoked_at", "consent_notice", "is_original_file",
               "file_purged_at", "identities_disclosed"}


@dataclass(frozen=True)
class Released:
    data_dir: Path
    path: Path
    asset_id: str
    sha256: str


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Released:
    """One 3 s video through the whole release path (about 8 s on the shared machine)."""
    data_dir = tmp_path_factory.mktemp("verify-data")
    settings = Settings(data_dir=data_dir)
    init_development_keys(settings)
    samples, rate = load_audio(SAMPLES / "speech.wav")
    audio = data_dir / "speech3.wav"
    with wave.open(str(audio), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples[: 3 * rate], -1, 1) * 32767).astype("<i2").tobytes())
    video = ReleasePath.from_settings(settings).generate(GenerationRequest(
        SAMPLES / "portrait.png", audio, data_dir / "talking.mp4", Controls(steps=2)))
    assert video.verification.verdict_code == "signed_intact"
    return Released(data_dir, video.path, video.asset_id, video.sha256)


@pytest.fixture
def world(pg_engine: Engine, released: Released, redis_prefix: str) -> Iterator[World]:
    world = build_world(pg_engine, make_settings(released.data_dir, redis_prefix))
    with world.client:
        yield world


@pytest.fixture(scope="module")
def registered(pg_engine: Engine, released: Released) -> Registered:
    return registered_artifact(pg_engine, _organisation(pg_engine), released.asset_id,
                               released.sha256)


def _organisation(engine: Engine) -> uuid.UUID:
    with Session(engine, expire_on_commit=False) as session:
        org = create_organisation(session, CLI, name="Dubbing House", declared_use_case="dub")
        session.commit()
        return org.id


def verify(world: World, data: bytes, headers: dict[str, str] | None = None,
           name: str = "clip.mp4"):
    return world.client.post("/v1/verify", headers=headers or {},
                             files={"file": (name, data, "video/mp4")})


def staff_headers(world: World, role: Role) -> dict[str, str]:
    user_id = staff_user(world.engine, role)
    token = issue_staff_token(load_signing_key(world.settings), user_id=user_id,
                              issuer=world.settings.oauth_issuer, ttl_seconds=600,
                              now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


def disclosures(engine: Engine, asset_id: str) -> list[str]:
    sequence_pending(engine)
    with Session(engine) as session:
        return list(session.scalars(select(AuditEventRow.actor).where(
            AuditEventRow.action == "registry:artifact:disclose",
            AuditEventRow.resource == f"artifact:{asset_id}")))


@pytest.mark.slow
def test_anonymous_callers_see_the_verdict_and_the_public_record(
        world: World, released: Released, registered: Registered) -> None:
    response = verify(world, released.path.read_bytes())
    assert response.status_code == 200, response.text
    assert response.headers["X-RateLimit-Limit"] == str(
        world.settings.rate_limit_verify_anonymous_per_minute)
    body = response.json()
    assert body["schema"] == "likeness.verify/1"
    assert body["verdict"]["code"] == "signed_intact"
    assert body["verdict"]["asset_id"] == released.asset_id
    assert body["file"]["path"] == "clip.mp4" and body["file"]["sha256"] == released.sha256
    registry = body["registry"]
    assert set(registry) == PUBLIC_KEYS  # no partner, subject, consent or job
    assert registry | {"created_at": None} == {
        "issued_by": "likeness", "asset_id": released.asset_id, "matched_by": "asset_id",
        "created_at": None, "environment": "live", "consent_status": "active",
        "consent_revoked_at": None, "consent_notice": None,
        "is_original_file": True, "file_purged_at": None, "identities_disclosed": False}
    assert disclosures(world.engine, released.asset_id) == []


@pytest.mark.slow
def test_verifiers_and_officers_also_see_who_and_are_audited(
        world: World, released: Released, registered: Registered) -> None:
    partner = verify(world, released.path.read_bytes(), world.headers())
    assert set(partner.json()["registry"]) == PUBLIC_KEYS  # a partner is no verifier
    for headers in (world.officer(), staff_headers(world, Role.VERIFIER)):
        registry = verify(world, released.path.read_bytes(), headers).json()["registry"]
        assert registry["identities_disclosed"] is True
        assert registry["organisation"]["id"] == str(registered.organisation_id)
        assert registry["organisation"]["name"] == "Dubbing House"
        assert registry["subject"] == {"id": str(registered.subject_id),
                                       "name": registered.subject_name}
        assert registry["consent_id"] == str(registered.consent_id)
        assert registry["job_id"] is None  # released outside the job queue
    assert len(disclosures(world.engine, released.asset_id)) == 2
    operator = verify(world, released.path.read_bytes(), staff_headers(world, Role.OPERATOR))
    assert set(operator.json()["registry"]) == PUBLIC_KEYS


@pytest.mark.slow
def test_a_consent_revoked_after_release_shows_and_an_edited_copy_is_not_the_original(
        world: World, released: Released, registered: Registered) -> None:
    with Session(world.engine) as session:
        session.execute(update(Consent).where(Consent.id == registered.consent_id)
                        .values(status=ConsentStatus.REVOKED))
        session.commit()
    try:
        edited = released.path.read_bytes() + b"\x00" * 64  # bytes after the signed file
        body = verify(world, edited).json()
        assert body["verdict"]["code"] == "manifest_invalid"  # the C2PA hash no longer holds
        assert body["registry"]["consent_status"] == "revoked"
        assert body["registry"]["is_original_file"] is False
        assert body["registry"]["asset_id"] == released.asset_id  # the watermark still says
    finally:
        with Session(world.engine) as session:
            session.execute(update(Consent).where(Consent.id == registered.consent_id)
                            .values(status=ConsentStatus.APPROVED))
            session.commit()


def test_an_asset_the_registry_does_not_know_has_no_record(world: World, tmp_path: Path) -> None:
    key = watermark_key(world.settings)
    path = marked_video(tmp_path / "unknown.mp4", key, random_asset_id())
    body = verify(world, path.read_bytes()).json()
    assert body["verdict"]["code"] == "watermark_only" and body["verdict"]["asset_id"]
    assert body["registry"] is None


def test_a_video_whose_bytes_retention_deleted_still_verifies(api: World, tmp_path: Path) -> None:
    """The registry record outlives the service's copy: a copy held elsewhere still resolves
    by its watermark, and the answer says the service no longer holds the file."""
    init_development_keys(api.settings)
    asset = f"{random_asset_id():014x}"
    copy = marked_video(tmp_path / "copy.mp4", watermark_key(api.settings),
                        int(asset, 16)).read_bytes()
    stored = LocalBlobStore(api.settings.blob_root).put_bytes(copy)
    registered_artifact(api.engine, api.org_id, asset, stored.sha256)
    released = datetime(2019, 1, 1, tzinfo=UTC)  # long ago: the sweep touches no other test's
    with Session(api.engine) as session:
        session.execute(update(Artifact).where(Artifact.asset_id == asset)
                        .values(created_at=released))
        purge_expired_artifacts(session, AuditContext(actor="system:retention"),
                                LocalBlobStore(api.settings.blob_root), retention_days=30,
                                now=datetime(2019, 3, 1, tzinfo=UTC))
        session.commit()
    assert not LocalBlobStore(api.settings.blob_root).exists(stored.key)

    body = verify(api, copy).json()
    assert body["verdict"]["asset_id"] == asset
    registry = body["registry"]
    assert registry["asset_id"] == asset and registry["matched_by"] == "asset_id"
    assert registry["is_original_file"] is True and registry["consent_status"] == "active"
    assert registry["file_purged_at"].startswith("2019-03-01")


def test_uploads_that_are_not_videos_are_refused(world: World) -> None:
    corrupt = verify(world, b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    assert corrupt.status_code == 422 and error_code(corrupt) == "video_unreadable"
    assert error_code(verify(world, b"")) == "upload_empty"
    bad_credential = verify(world, b"x", {"Authorization": "Bearer lk_nonsense"})
    assert bad_credential.status_code == 401  # never silently treated as anonymous


def test_anonymous_checks_have_their_own_low_limit(pg_engine: Engine, released: Released,
                                                   redis_prefix: str) -> None:
    world = build_world(pg_engine, make_settings(released.data_dir, redis_prefix,
                                                 rate_limit_verify_anonymous_per_minute=2,
                                                 max_verify_bytes=1000))
    with world.client:
        assert error_code(verify(world, b"y" * 1001)) == "upload_too_large"
        assert verify(world, b"y").status_code == 422
        limited = verify(world, b"y")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert verify(world, b"y", world.headers()).status_code == 422  # a key's own limit
