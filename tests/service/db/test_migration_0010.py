"""Migration 0010 on a database that already holds portrait encodings (PostgreSQL and SQLite):
a plaintext encoding written between 0008 and 0010 (512 bytes of float32) is deleted, a sealed
one (``TemplateBox.seal_portrait``) is kept byte for byte and still opens; the downgrade deletes
the sealed ones too, since the code before 0010 cannot read them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import text

from service.db import make_engine
from service.db.migrate import downgrade_database, upgrade_database
from service.domain.face_templates import TemplateBox
from tests.conftest import BACKENDS, database_url

NOW = datetime(2026, 11, 26, tzinfo=UTC).replace(tzinfo=None)
BOX = TemplateBox(bytes(range(32)))


def _encoding() -> np.ndarray:
    values = np.random.default_rng(10).normal(0.0, 0.1, 128).astype("<f4")
    assert np.all(values != 0)  # no zero run that ciphertext could match by chance
    return values


def _seed(connection, org: uuid.UUID, assets: dict[str, tuple[uuid.UUID, bytes]],
          backend: str) -> None:
    def as_id(value: uuid.UUID):
        return value if backend == "postgresql" else value.hex

    connection.execute(text(
        "INSERT INTO organisations (id, name, status, declared_use_case, created_at) "
        "VALUES (:org, 'Studio', 'vetted', 'dubbing', :now)"), {"org": as_id(org), "now": NOW})
    for asset_id, encoding in assets.values():
        connection.execute(text(
            "INSERT INTO assets (id, organisation_id, kind, sha256, size_bytes, media_type, "
            "storage_key, face_encoding, is_reference, is_test, created_at) VALUES "
            "(:id, :org, 'portrait', :sha, 1, 'image/png', :key, :encoding, false, false, :now)"),
            {"id": as_id(asset_id), "org": as_id(org), "sha": "b" * 64,
             "key": "sha256/bb/" + "b" * 64, "encoding": encoding, "now": NOW})


def _stored(connection, asset_id: uuid.UUID, backend: str) -> bytes | None:
    value = connection.execute(
        text("SELECT face_encoding FROM assets WHERE id = :id"),
        {"id": asset_id if backend == "postgresql" else asset_id.hex}).scalar_one()
    return None if value is None else bytes(value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plaintext_encodings_go_and_sealed_ones_stay(backend, postgres_database,
                                                     tmp_path) -> None:
    engine = make_engine(database_url(backend, postgres_database, tmp_path,
                                      "likeness_test_mig0010"))
    org, plain_id, sealed_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    encoding = _encoding()
    sealed = BOX.seal_portrait(sealed_id, org, encoding)
    assert len(encoding.tobytes()) == 512 and len(sealed) == 545  # version 2: a 4-byte key id
    try:
        upgrade_database(engine, "0009")
        with engine.begin() as connection:
            _seed(connection, org, {"plain": (plain_id, encoding.tobytes()),
                                    "sealed": (sealed_id, sealed)}, backend)
        upgrade_database(engine)
        with engine.begin() as connection:
            assert _stored(connection, plain_id, backend) is None
            kept = _stored(connection, sealed_id, backend)
            assert kept == sealed
            assert BOX.open_portrait(sealed_id, org, kept).tobytes() == encoding.tobytes()
            assert connection.execute(text("SELECT count(*) FROM assets")).scalar_one() == 2
        downgrade_database(engine, "0009")
        with engine.begin() as connection:
            assert _stored(connection, sealed_id, backend) is None
            assert connection.execute(text("SELECT count(*) FROM assets")).scalar_one() == 2
    finally:
        engine.dispose()  # a database of this test's own, dropped with the run
