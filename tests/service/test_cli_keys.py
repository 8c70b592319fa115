"""``likeness keys rotate-face-templates`` / ``rotate-webhook-secrets`` on the embedded database,
with the keys given as a deployment gives them (environment): counts printed, a second run
re-seals nothing, rows no configured key opens are named with exit status 2."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from service.cli import main
from service.db import make_engine
from service.db.models import Asset, AssetKind, Organisation, WebhookEndpoint
from service.domain.face_templates import TemplateBox
from tests.service.sealed_support import portrait_version_1, secret_version_1

OLD, NEW = b"o" * 32, b"n" * 32
ROTATED_ENV = {"LIKENESS_FACE_TEMPLATE_KEY": NEW.hex(),
               "LIKENESS_FACE_TEMPLATE_PREVIOUS_KEYS": OLD.hex(),
               "LIKENESS_WEBHOOK_SECRET_KEY": NEW.hex(),
               "LIKENESS_WEBHOOK_SECRET_PREVIOUS_KEYS": OLD.hex()}


def _run(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], env=env)
    return result.exit_code, result.output


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    assert _run(tmp_path, "db", "upgrade")[0] == 0
    assert _run(tmp_path, "user", "create", "op@example.com", "--name", "Op", "--role",
                "operator")[0] == 0
    return tmp_path


def _seed(data_dir: Path) -> tuple[uuid.UUID, uuid.UUID]:
    """Two portraits and one webhook endpoint sealed as before rotation (version 1, old key);
    returns the organisation's and one portrait's ids."""
    engine = make_engine(f"sqlite:///{data_dir / 'likeness.db'}")
    try:
        with Session(engine) as session:
            org = Organisation(name="Studio", declared_use_case="dubbing")
            session.add(org)
            session.flush()
            ids = [uuid.uuid4(), uuid.uuid4()]
            for i, asset_id in enumerate(ids):
                encoding = np.full(128, 0.01 * (i + 1), np.float32)
                session.add(Asset(id=asset_id, organisation_id=org.id, kind=AssetKind.PORTRAIT,
                                  sha256=secrets.token_hex(32), size_bytes=1,
                                  media_type="image/jpeg", storage_key=f"k/{asset_id}",
                                  face_encoding=portrait_version_1(OLD, asset_id, org.id,
                                                                   encoding)))
            endpoint = uuid.uuid4()
            session.add(WebhookEndpoint(id=endpoint, organisation_id=org.id,
                                        url="https://example.com/hook", event_types=["job.*"],
                                        secret_ciphertext=secret_version_1(OLD, endpoint,
                                                                           "whsec_x")))
            session.commit()
            return org.id, ids[0]
    finally:
        engine.dispose()


def test_rotate_prints_counts_is_idempotent_and_names_unreadable_rows(data_dir: Path) -> None:
    org_id, portrait_id = _seed(data_dir)
    rotate = ("keys", "rotate-face-templates", "--by", "op@example.com", "--batch-size", "1")
    code, output = _run(data_dir, *rotate, env=ROTATED_ENV)
    assert code == 0, output
    assert f"face template key {TemplateBox(NEW).key_id} (current)" in output
    assert "portrait_encodings: 2 re-sealed, 0 already under the current key, 0 unreadable" \
        in output and "face_templates: 0 re-sealed" in output
    code, output = _run(data_dir, *rotate, env=ROTATED_ENV)
    assert code == 0 and "portrait_encodings: 0 re-sealed, 2 already under" in output
    code, output = _run(data_dir, "keys", "rotate-webhook-secrets", "--by", "op@example.com",
                        env=ROTATED_ENV)
    assert code == 0 and "webhook_secrets: 1 re-sealed" in output, output

    # After the old key is dropped, a value sealed under it names a key no longer configured.
    engine = make_engine(f"sqlite:///{data_dir / 'likeness.db'}")
    try:
        with Session(engine) as session:
            session.get(Asset, portrait_id).face_encoding = TemplateBox(OLD).seal_portrait(
                portrait_id, org_id, np.zeros(128, np.float32))
            session.commit()
        code, output = _run(data_dir, *rotate,
                            env={"LIKENESS_FACE_TEMPLATE_KEY": NEW.hex()})
        assert code == 2 and "1 unreadable" in output
        assert "error [sealed_value_unreadable]" in output and str(portrait_id) in output
        with Session(engine) as session:  # left as it was
            assert TemplateBox(OLD).is_current(session.get(Asset, portrait_id).face_encoding)
    finally:
        engine.dispose()
    code, output = _run(data_dir, "keys", "rotate-face-templates", "--by", "nobody@example.com",
                        env=ROTATED_ENV)
    assert code == 2 and "error [not_found]" in output


def test_rotate_without_a_current_key_refuses_rather_than_inventing_one(data_dir: Path) -> None:
    for command, name in (("rotate-face-templates", "face-template-key"),
                          ("rotate-webhook-secrets", "webhook-secret-key")):
        code, output = _run(data_dir, "keys", command, "--by", "op@example.com", env={})
        assert code == 2 and "error [keys_missing]" in output, output
        assert not (data_dir / name).exists()
