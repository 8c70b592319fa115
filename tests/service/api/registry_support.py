"""Videos and registry rows for the verify and report tests.

``marked_video`` runs the real watermark embedder over a second of synthetic frames and
encodes them (no model, no manifest: about a second): a file whose mark names a chosen asset.
``registered_artifact`` puts a consenting subject and an artifact for an asset id into the
registry, as the worker (or ``likeness generate``) would.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from policy.watermark import WatermarkEmbedder, WatermarkKey, WatermarkPayload
from service.auth import create_user, grant_role
from service.db import AuditContext
from service.db.models import Consent, ConsentStatus, Organisation, Role, Subject
from service.domain.registry import register_artifact
from service.media.video import Mp4Writer

CLI = AuditContext(actor="system:test")


def marked_video(path: Path, key: WatermarkKey, asset_id: int, frames: int = 25) -> Path:
    embedder = WatermarkEmbedder(key, WatermarkPayload(asset_id=asset_id, version=1))
    rng = np.random.default_rng(asset_id % 2**32)
    y, x = np.mgrid[0:512, 0:512]
    base = np.stack([(x / 2) % 256, (y / 2) % 256, ((x + y) / 4) % 256], -1)
    with Mp4Writer(path, (512, 512)) as writer:
        for _ in range(frames):
            frame = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
            writer.write(embedder.embed(frame))
    return path


def random_asset_id() -> int:
    return secrets.randbits(56)


@dataclass(frozen=True)
class Registered:
    asset_id: str
    organisation_id: uuid.UUID
    subject_id: uuid.UUID
    consent_id: uuid.UUID
    subject_name: str


def registered_artifact(engine: Engine, organisation_id: uuid.UUID, asset_id: str,
                        sha256: str, *, is_test: bool = False) -> Registered:
    """An approved consent for a new subject of ``organisation_id``, and the artifact."""
    name = f"Ada {secrets.token_hex(3)}"
    with Session(engine, expire_on_commit=False) as session:
        subject = Subject(organisation_id=organisation_id, display_name=name, is_test=is_test)
        session.add(subject)
        session.flush()
        consent = Consent(subject_id=subject.id, organisation_id=organisation_id,
                          status=ConsentStatus.APPROVED, purposes=["dubbing"],
                          expires_at=datetime.now(UTC) + timedelta(days=30))
        session.add(consent)
        session.flush()
        register_artifact(session, asset_id, sha256, subject=subject, consent=consent,
                          organisation=session.get_one(Organisation, organisation_id),
                          is_test=is_test, created_by=CLI)
        session.commit()
        return Registered(asset_id, organisation_id, subject.id, consent.id, name)


def staff_user(engine: Engine, role: Role) -> uuid.UUID:
    with Session(engine, expire_on_commit=False) as session:
        user = create_user(session, CLI, email=f"{role.value}-{secrets.token_hex(4)}@l.test",
                           display_name=role.value)
        grant_role(session, CLI, user_id=user.id, role=role)
        session.commit()
        return user.id
