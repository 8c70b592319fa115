"""Stored portraits (PostgreSQL and SQLite): the identity encoding of a validated portrait is
kept sealed to its asset row, never as float32 bytes, and the checks that read it (same person
as the subject's references, references of one person) open it again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.errors import FaceMismatch
from service.auth import create_organisation
from service.db import AuditContext
from service.db.models import Asset, Subject
from service.domain import Owner, SubjectRequest, UploadLimits, ValidatedUpload
from service.domain.assets import (
    new_asset_row,
    portrait_encoding,
    reference_encodings,
    store_asset,
)
from service.domain.face_templates import TemplateBox
from service.domain.subjects import register_subject
from service.domain.uploads import validate_portrait
from service.errors import KeysError
from service.settings import Settings
from service.storage import LocalBlobStore
from tests.service.api.conftest import biden, face

CTX = AuditContext(actor="system:test", request_id="req-assets")
NOW = datetime.now(UTC)
BOX = TemplateBox(bytes(range(32)))
RUN = 8  # bytes: two float32 values in a row


@pytest.fixture(scope="module")
def portraits() -> dict[str, ValidatedUpload]:
    limits = UploadLimits.from_settings(Settings())
    return {name: validate_portrait(data, limits) for name, data in
            (("obama", face("obama.jpg")), ("obama2", face("obama2.jpg")), ("biden", biden()))}


def _owner(session: Session) -> Owner:
    org = create_organisation(session, CTX, name="Studio", declared_use_case="dubbing")
    return Owner(org.id, is_test=False)


def _raw(session: Session, asset_id: uuid.UUID) -> bytes:
    """The column as the database holds it (not the ORM's cached value)."""
    session.expire_all()
    return bytes(session.scalar(select(Asset.face_encoding).where(Asset.id == asset_id)))


def test_the_stored_encoding_is_sealed_not_the_float32_bytes(db_session, tmp_path,
                                                             portraits) -> None:
    owner = _owner(db_session)
    upload = portraits["obama"]
    asset = store_asset(db_session, CTX, LocalBlobStore(tmp_path), owner=owner, upload=upload,
                        box=BOX, face_threshold=0.5)
    stored = _raw(db_session, asset.id)
    plain = np.asarray(upload.face_encoding, dtype="<f4").tobytes()
    assert len(plain) == 512 and len(stored) == 545 and stored != plain
    # No two consecutive values of the encoding appear anywhere in what is stored.
    runs = {plain[i:i + RUN] for i in range(0, len(plain) - RUN + 1, 4)}
    assert not any(stored[i:i + RUN] in runs for i in range(len(stored) - RUN + 1))
    assert portrait_encoding(BOX, asset).tobytes() == plain


def test_a_ciphertext_moved_to_another_row_does_not_open(db_session, tmp_path,
                                                         portraits) -> None:
    owner, store = _owner(db_session), LocalBlobStore(tmp_path)
    first, second = (store_asset(db_session, CTX, store, owner=owner, upload=portraits[name],
                                 box=BOX, face_threshold=0.5) for name in ("obama", "biden"))
    second.face_encoding = first.face_encoding
    db_session.flush()
    with pytest.raises(KeysError, match=f"asset {second.id} does not decrypt"):
        portrait_encoding(BOX, db_session.get(Asset, second.id))
    # Another organisation's row with the same id would not open it either.
    other = _owner(db_session)
    moved = Asset(id=first.id, organisation_id=other.organisation_id,
                  face_encoding=first.face_encoding)
    with pytest.raises(KeysError, match="does not decrypt"):
        portrait_encoding(BOX, moved)
    with pytest.raises(KeysError, match="no face template key"):
        portrait_encoding(None, first)


def test_a_portrait_is_never_stored_without_the_key(tmp_path, portraits) -> None:
    owner = Owner(uuid.uuid4(), is_test=False)
    with pytest.raises(KeysError, match="stored sealed"):
        new_asset_row(LocalBlobStore(tmp_path), owner, portraits["obama"], subject_id=None,
                      now=NOW)


def test_portraits_for_a_subject_are_matched_against_sealed_references(
        db_session, tmp_path, portraits) -> None:
    owner, store = _owner(db_session), LocalBlobStore(tmp_path)
    uploaded = [store_asset(db_session, CTX, store, owner=owner, upload=portraits[name],
                            box=BOX, face_threshold=0.5) for name in ("obama", "obama2")]
    subject, _ = register_subject(
        db_session, CTX, store, owner=owner,
        request=SubjectRequest("Ada", None, tuple(a.id for a in uploaded)), evidence=None,
        vocabulary=("dubbing",), face_threshold=0.5, box=BOX)
    assert len(reference_encodings(db_session, BOX, subject.id)) == 2
    same = store_asset(db_session, CTX, store, owner=owner, upload=portraits["obama2"],
                       box=BOX, subject_id=subject.id, face_threshold=0.5)
    assert same.subject_id == subject.id
    with pytest.raises(FaceMismatch, match="is not subject"):
        store_asset(db_session, CTX, store, owner=owner, upload=portraits["biden"], box=BOX,
                    subject_id=subject.id, face_threshold=0.5)
    # A reference that does not open is an error, never a silently shorter reference list.
    reference = db_session.get(Asset, uploaded[1].id)
    reference.face_encoding = uploaded[0].face_encoding
    db_session.flush()
    with pytest.raises(KeysError):
        reference_encodings(db_session, BOX, subject.id)


def test_references_of_two_people_are_refused(db_session, tmp_path, portraits) -> None:
    owner, store = _owner(db_session), LocalBlobStore(tmp_path)
    uploaded = [store_asset(db_session, CTX, store, owner=owner, upload=portraits[name],
                            box=BOX, face_threshold=0.5) for name in ("obama", "biden")]
    with pytest.raises(FaceMismatch, match="not the same person"):
        register_subject(db_session, CTX, store, owner=owner,
                         request=SubjectRequest("Ada", None, tuple(a.id for a in uploaded)),
                         evidence=None, vocabulary=("dubbing",), face_threshold=0.5, box=BOX)
    assert db_session.scalar(select(Subject.id).where(
        Subject.organisation_id == owner.organisation_id)) is None
