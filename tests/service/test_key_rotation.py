"""Key rotation on PostgreSQL and SQLite: every face template, portrait encoding and webhook
secret sealed under a previous key (or in the version-1 form, which names no key) is opened and
sealed again under the current key, in batches; the run is idempotent, resumes after a crash,
leaves rows no configured key opens exactly as they were (and names them), and is one audit
event."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from service.audit.sequencer import sequence_pending
from service.auth import create_organisation, create_user, grant_role
from service.db import AuditContext, make_session_factory
from service.db.models import (
    Asset,
    AssetKind,
    AuditEventRow,
    FaceTemplate,
    Role,
    Subject,
    WebhookEndpoint,
)
from service.db.types import utcnow
from service.domain.face_templates import TemplateBox
from service.errors import RoleMissing, SealedValueUnreadable
from service.key_rotation import rotate_face_templates, rotate_webhook_secrets
from service.webhooks.secrets import SecretBox
from tests.conftest import BACKENDS, migrated_engine
from tests.service.sealed_support import (
    portrait_version_1,
    secret_version_1,
    template_version_1,
)

CTX = AuditContext(actor="cli:op@example.com")
OLD, NEW, FOREIGN = b"o" * 32, b"n" * 32, b"f" * 32
ROTATED = TemplateBox(NEW, [OLD])


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, postgres_database: Callable[[str], str],
           tmp_path: Path) -> Iterator[Engine]:
    # A database of its own: a rotation reads every row of the tables it covers.
    yield from migrated_engine(request.param, postgres_database, tmp_path,
                               "likeness_test_key_rotation")


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@dataclass(frozen=True)
class Place:
    org_id: uuid.UUID
    subject_id: uuid.UUID
    operator_id: uuid.UUID
    partner_id: uuid.UUID


def _place(sessions: sessionmaker[Session]) -> Place:
    with sessions() as session:
        operator = create_user(session, CTX, email="op@example.com", display_name="Op")
        grant_role(session, CTX, user_id=operator.id, role=Role.OPERATOR)
        org = create_organisation(session, CTX, name="Studio", declared_use_case="dubbing")
        partner = create_user(session, CTX, email="pat@example.com", display_name="Pat")
        grant_role(session, CTX, user_id=partner.id, role=Role.PARTNER, organisation_id=org.id)
        subject = Subject(organisation_id=org.id, display_name="Ada")
        session.add(subject)
        session.commit()
        return Place(org.id, subject.id, operator.id, partner.id)


def _encoding(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.1, 128).astype(np.float32)


def _portrait(session: Session, place: Place, seal: Callable[[uuid.UUID], bytes | None]) -> Asset:
    asset_id = uuid.uuid4()
    row = Asset(id=asset_id, organisation_id=place.org_id, kind=AssetKind.PORTRAIT,
                sha256=secrets.token_hex(32), size_bytes=1, media_type="image/jpeg",
                storage_key=f"sha256/00/{secrets.token_hex(32)}", face_encoding=seal(asset_id))
    session.add(row)
    return row


def _template(session: Session, place: Place,
              seal: Callable[[uuid.UUID], bytes | None]) -> FaceTemplate:
    template_id = uuid.uuid4()
    row = FaceTemplate(id=template_id, subject_id=place.subject_id, ciphertext=seal(template_id))
    session.add(row)
    return row


def _seed_faces(sessions: sessionmaker[Session], place: Place) -> dict[uuid.UUID, np.ndarray]:
    """Nine portraits and four templates: under the old key (version 1 and 2) and the new one;
    plus an erased template and an audio asset, which have nothing sealed."""
    old, new, org, subject = TemplateBox(OLD), TemplateBox(NEW), place.org_id, place.subject_id
    encodings: dict[uuid.UUID, np.ndarray] = {}
    with sessions() as session:
        for i in range(9):
            encoding = _encoding(i)
            seal = [lambda a, e=encoding: portrait_version_1(OLD, a, org, e),
                    lambda a, e=encoding: old.seal_portrait(a, org, e),
                    lambda a, e=encoding: new.seal_portrait(a, org, e)][i % 3]
            encodings[_portrait(session, place, seal).id] = encoding
        for i, seal in enumerate([lambda t, e: template_version_1(OLD, t, subject, e),
                                  lambda t, e: old.seal(t, subject, e),
                                  lambda t, e: old.seal(t, subject, e),
                                  lambda t, e: new.seal(t, subject, e)]):
            encoding = _encoding(100 + i)
            row = _template(session, place, lambda t, s=seal, e=encoding: s(t, e))
            encodings[row.id] = encoding
        _template(session, place, lambda t: None)  # erased
        audio = _portrait(session, place, lambda a: None)
        audio.kind = AssetKind.AUDIO
        session.commit()
    return encodings


def _stored(sessions: sessionmaker[Session]) -> dict[uuid.UUID, bytes]:
    with sessions() as session:
        rows = session.execute(select(Asset.id, Asset.face_encoding)).all()
        rows += session.execute(select(FaceTemplate.id, FaceTemplate.ciphertext)).all()
        return {row_id: value for row_id, value in rows if value is not None}


def _opens_under_new_key_alone(sessions, place: Place, encodings) -> None:
    box = TemplateBox(NEW)
    with sessions() as session:
        for row_id, encoding in encodings.items():
            asset, template = session.get(Asset, row_id), session.get(FaceTemplate, row_id)
            opened = box.open_portrait(row_id, place.org_id, asset.face_encoding) if asset \
                else box.open(row_id, place.subject_id, template.ciphertext)
            assert opened.tobytes() == encoding.tobytes()


def _rotations(engine: Engine, action: str) -> list[AuditEventRow]:
    sequence_pending(engine)
    with Session(engine) as session:
        return list(session.scalars(select(AuditEventRow).where(AuditEventRow.action == action)
                                    .order_by(AuditEventRow.seq)))


def test_previous_key_values_are_resealed_in_batches_and_a_second_run_changes_nothing(
        engine, sessions) -> None:
    place = _place(sessions)
    encodings = _seed_faces(sessions, place)
    report = rotate_face_templates(sessions, CTX, ROTATED, operator_id=place.operator_id,
                                   batch_size=2)
    assert report.key_id == TemplateBox(NEW).key_id and report.unreadable == ()
    counts = {c.name: (c.resealed, c.current) for c in report.columns}
    assert counts == {"face_templates": (3, 1), "portrait_encodings": (6, 3)}
    _opens_under_new_key_alone(sessions, place, encodings)
    stored = _stored(sessions)

    again = rotate_face_templates(sessions, CTX, ROTATED, operator_id=place.operator_id)
    assert {c.name: (c.resealed, c.current) for c in again.columns} \
        == {"face_templates": (0, 4), "portrait_encodings": (0, 9)}
    assert _stored(sessions) == stored  # not even a fresh nonce
    events = _rotations(engine, "keys:face_template_key:rotate")
    assert [e.outcome.value for e in events] == ["success", "success"]  # one event per run
    assert events[0].resource == f"key:{report.key_id}" and events[0].actor == CTX.actor
    assert events[0].payload["columns"]["portrait_encodings"] \
        == {"resealed": 6, "current": 3, "unreadable_count": 0, "unreadable": []}


def test_rows_no_configured_key_opens_are_named_and_left_as_they_were(engine, sessions) -> None:
    place = _place(sessions)
    encodings = _seed_faces(sessions, place)
    with sessions() as session:
        source = session.get(Asset, next(iter(encodings)))
        copied = _portrait(session, place, lambda a: source.face_encoding)  # another row's
        foreign = _portrait(session, place,  # sealed by a key this deployment never had
                            lambda a: TemplateBox(FOREIGN).seal_portrait(a, place.org_id,
                                                                         _encoding(7)))
        session.commit()
        bad = sorted([str(copied.id), str(foreign.id)])
    before = _stored(sessions)
    report = rotate_face_templates(sessions, CTX, ROTATED, operator_id=place.operator_id,
                                   batch_size=3)
    assert sorted(report.unreadable) == bad
    with pytest.raises(SealedValueUnreadable) as refused:
        report.raise_if_unreadable()
    assert all(row in refused.value.message for row in bad)
    after = _stored(sessions)
    assert all(after[uuid.UUID(row)] == before[uuid.UUID(row)] for row in bad)
    _opens_under_new_key_alone(sessions, place, encodings)  # the others were re-sealed
    [event] = _rotations(engine, "keys:face_template_key:rotate")
    assert event.outcome.value == "failure"
    assert sorted(event.payload["columns"]["portrait_encodings"]["unreadable"]) == bad


def test_a_crashed_run_is_resumed_by_the_next(engine, sessions) -> None:
    place = _place(sessions)
    encodings = _seed_faces(sessions, place)

    class Crashing(TemplateBox):
        sealed = 0

        def seal_portrait(self, *args, **kwargs) -> bytes:
            Crashing.sealed += 1
            if Crashing.sealed == 4:  # in the second batch of portraits
                raise RuntimeError("killed")
            return super().seal_portrait(*args, **kwargs)

    with pytest.raises(RuntimeError):
        rotate_face_templates(sessions, CTX, Crashing(NEW, [OLD]),
                              operator_id=place.operator_id, batch_size=3)
    # The batches before the crash were committed (the templates, and the portraits' batch
    # of the first re-seal at least); the batch that crashed was rolled back; nothing audited.
    box = TemplateBox(NEW)
    with sessions() as session:
        portraits = [v for v in session.scalars(select(Asset.face_encoding)) if v is not None]
        templates = [v for v in session.scalars(select(FaceTemplate.ciphertext)) if v]
    assert all(box.is_current(value) for value in templates)
    done = sum(box.is_current(value) for value in portraits)
    assert 3 + 1 <= done < 9
    assert _rotations(engine, "keys:face_template_key:rotate") == []
    resumed = rotate_face_templates(sessions, CTX, ROTATED, operator_id=place.operator_id,
                                    batch_size=3)
    assert {c.name: (c.resealed, c.current) for c in resumed.columns} \
        == {"face_templates": (0, 4), "portrait_encodings": (9 - done, done)}
    _opens_under_new_key_alone(sessions, place, encodings)


def test_webhook_secrets_are_resealed_deleted_endpoints_included(engine, sessions) -> None:
    place = _place(sessions)
    old = SecretBox(OLD)
    secrets_by_id = {}
    with sessions() as session:
        for i, seal in enumerate([lambda e, s: secret_version_1(OLD, e, s),
                                  lambda e, s: old.seal(e, s),
                                  lambda e, s: SecretBox(NEW).seal(e, s)]):
            endpoint_id, secret = uuid.uuid4(), f"whsec_{secrets.token_hex(8)}"
            session.add(WebhookEndpoint(id=endpoint_id, organisation_id=place.org_id,
                                        url="https://example.com/hook", event_types=["job.*"],
                                        secret_ciphertext=seal(endpoint_id, secret),
                                        deleted_at=utcnow() if i == 0 else None))
            secrets_by_id[endpoint_id] = secret
        session.commit()
    box = SecretBox(NEW, [OLD])
    report = rotate_webhook_secrets(sessions, CTX, box, operator_id=place.operator_id)
    [column] = report.columns
    assert (column.name, column.resealed, column.current, column.unreadable) \
        == ("webhook_secrets", 2, 1, ())
    with sessions() as session:
        for endpoint_id, secret in secrets_by_id.items():
            sealed = session.get(WebhookEndpoint, endpoint_id).secret_ciphertext
            assert SecretBox(NEW).open(endpoint_id, sealed) == secret
    again = rotate_webhook_secrets(sessions, CTX, box, operator_id=place.operator_id)
    assert (again.columns[0].resealed, again.columns[0].current) == (0, 3)
    assert len(_rotations(engine, "keys:webhook_secret_key:rotate")) == 2


def test_only_an_operator_rotates(engine, sessions) -> None:
    place = _place(sessions)
    _seed_faces(sessions, place)
    before = _stored(sessions)
    with pytest.raises(RoleMissing):
        rotate_face_templates(sessions, CTX, ROTATED, operator_id=place.partner_id)
    assert _stored(sessions) == before

