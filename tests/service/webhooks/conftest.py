"""Webhook tests' database (one of their own per backend, so no other test's deliveries are
due in it) and the rows a delivery hangs on: an organisation, a job and its inputs."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from service.auth import create_organisation
from service.db import AuditContext, make_engine, make_session_factory
from service.db.migrate import upgrade_database
from service.db.models import (
    Asset,
    AssetKind,
    Consent,
    ConsentStatus,
    DeliveryStatus,
    Job,
    JobState,
    Subject,
    WebhookDelivery,
)
from service.domain.assets import Owner
from tests.conftest import BACKENDS, database_url

SETUP = AuditContext(actor="system:test-setup")
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest, postgres_database: Callable[[str], str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = database_url(request.param, postgres_database, tmp_path_factory.mktemp("wh"),
                       "likeness_test_webhooks")
    engine = make_engine(url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    factory = make_session_factory(engine)
    yield factory
    with factory() as session:  # nothing a test left pending is due in the next one
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.status == DeliveryStatus.PENDING)
                        .values(status=DeliveryStatus.FAILED, last_error="test teardown"))
        session.commit()


@dataclass(frozen=True)
class Partner:
    owner: Owner
    job: Job


def make_partner(sessions: sessionmaker[Session], *, is_test: bool = False,
                 state: JobState = JobState.SUCCEEDED) -> Partner:
    """A committed organisation with one job (its subject, consent and inputs)."""
    with sessions() as session:
        org = create_organisation(session, SETUP, name=f"Studio {secrets.token_hex(3)}",
                                  declared_use_case="dubbing")
        subject = Subject(organisation_id=org.id, display_name="Ada", is_test=is_test)
        session.add(subject)
        session.flush()
        consent = Consent(subject_id=subject.id, organisation_id=org.id,
                          status=ConsentStatus.APPROVED, purposes=["dubbing"])
        inputs = [Asset(organisation_id=org.id, subject_id=subject.id, kind=kind,
                        sha256=secrets.token_hex(32), size_bytes=1, media_type=media,
                        storage_key=f"sha256/00/{secrets.token_hex(32)}", is_test=is_test)
                  for kind, media in ((AssetKind.PORTRAIT, "image/png"),
                                      (AssetKind.AUDIO, "audio/wav"))]
        session.add_all([consent, *inputs])
        session.flush()
        job = Job(organisation_id=org.id, subject_id=subject.id, consent_id=consent.id,
                  purpose="dubbing", portrait_asset_id=inputs[0].id,
                  audio_asset_id=inputs[1].id, controls={}, is_test=is_test,
                  state=state, progress=1.0 if state == JobState.SUCCEEDED else 0.0)
        session.add(job)
        session.commit()
        session.expunge(job)
        return Partner(Owner(org.id, is_test), job)


def delivery(sessions: sessionmaker[Session], delivery_id: uuid.UUID) -> WebhookDelivery:
    with sessions() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        session.expunge(row)
        return row


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
