"""``TemplateBox``: one AES-256-GCM implementation for both kinds of sealed face encoding, each
bound to its row by the associated data."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from service.domain.face_templates import TemplateBox, unopened_error
from service.errors import (
    KeysError,
    PepperInvalid,
    SealedValueUnreadable,
    SealingKeyMismatch,
    SubjectReferenceUnreadable,
)
from service.settings import Settings
from tests.service.sealed_support import portrait_version_1, template_version_1

BOX = TemplateBox(bytes(range(32)))


def _encoding(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.1, 128).astype(np.float32)


def test_a_portrait_encoding_opens_only_on_its_own_asset_and_organisation() -> None:
    asset, org, encoding = uuid.uuid4(), uuid.uuid4(), _encoding()
    sealed = BOX.seal_portrait(asset, org, encoding)
    assert len(sealed) == 1 + 4 + 12 + 512 + 16  # version, key id, nonce, 128 float32, tag
    assert BOX.open_portrait(asset, org, sealed).tobytes() == encoding.tobytes()
    # Fresh nonce per seal: the same encoding never seals to the same bytes twice.
    assert BOX.seal_portrait(asset, org, encoding) != sealed
    for other_asset, other_org in ((uuid.uuid4(), org), (asset, uuid.uuid4())):
        with pytest.raises(SealedValueUnreadable, match="does not decrypt") as failed:
            BOX.open_portrait(other_asset, other_org, sealed)
        assert failed.value.context == {"asset_id": str(other_asset)}
        assert not failed.value.undetermined  # the key that sealed it is configured
    with pytest.raises(SealingKeyMismatch, match="not configured"):
        TemplateBox(bytes(32)).open_portrait(asset, org, sealed)


def test_templates_and_portraits_do_not_open_as_each_other() -> None:
    # The same two ids as both kinds' associated data: the portrait label keeps them apart.
    first, second, encoding = uuid.uuid4(), uuid.uuid4(), _encoding(1)
    template = BOX.seal(first, second, encoding)
    portrait = BOX.seal_portrait(first, second, encoding)
    with pytest.raises(KeysError):
        BOX.open_portrait(first, second, template)
    with pytest.raises(KeysError):
        BOX.open(first, second, portrait)
    assert BOX.open(first, second, template).tobytes() == encoding.tobytes()


def test_plaintext_and_malformed_values_are_refused() -> None:
    asset, org, encoding = uuid.uuid4(), uuid.uuid4(), _encoding(2)
    with pytest.raises(KeysError, match="unknown format"):
        BOX.open_portrait(asset, org, encoding.astype("<f4").tobytes())
    with pytest.raises(ValueError, match="finite"):
        BOX.seal_portrait(asset, org, np.full(128, np.nan, dtype=np.float32))
    with pytest.raises(ValueError):
        BOX.seal_portrait(asset, org, encoding[:64])


def test_the_key_comes_from_the_deployment(tmp_path) -> None:
    asset, org, encoding = uuid.uuid4(), uuid.uuid4(), _encoding(3)
    settings = Settings(data_dir=tmp_path)
    sealed = TemplateBox.from_settings(settings).seal_portrait(asset, org, encoding)
    # Another process reading the same key file opens it; the key file is created once.
    reopened = TemplateBox.from_settings(settings).open_portrait(asset, org, sealed)
    assert reopened.tobytes() == encoding.tobytes()
    from_env = Settings(data_dir=tmp_path, face_template_key=bytes(range(32)).hex())
    assert TemplateBox.from_settings(from_env).open_portrait(
        asset, org, BOX.seal_portrait(asset, org, encoding)).tobytes() == encoding.tobytes()
    with pytest.raises(PepperInvalid):
        TemplateBox(b"short")


def test_previous_keys_open_what_they_sealed_and_never_seal(tmp_path, monkeypatch) -> None:
    old, new = bytes(range(32)), bytes(range(1, 33))
    asset, org, template, subject, encoding = (*(uuid.uuid4() for _ in range(4)), _encoding(4))
    before = [TemplateBox(old).seal_portrait(asset, org, encoding),
              portrait_version_1(old, asset, org, encoding)]  # as stored before rotation
    monkeypatch.setenv("LIKENESS_FACE_TEMPLATE_KEY", new.hex())
    monkeypatch.setenv("LIKENESS_FACE_TEMPLATE_PREVIOUS_KEYS", f"{bytes(32).hex()},{old.hex()}")
    rotated = TemplateBox.from_settings(Settings(data_dir=tmp_path))
    for sealed in before:
        assert rotated.open_portrait(asset, org, sealed).tobytes() == encoding.tobytes()
        assert not rotated.is_current(sealed)
    legacy_template = template_version_1(old, template, subject, encoding)
    assert rotated.open(template, subject, legacy_template).tobytes() == encoding.tobytes()
    resealed = rotated.seal_portrait(asset, org, encoding)
    assert rotated.is_current(resealed) and rotated.key_id == TemplateBox(new).key_id
    with pytest.raises(SealingKeyMismatch):
        TemplateBox(old).open_portrait(asset, org, resealed)
    # Without the previous keys, the version-1 value could be a wrong key or an altered row.
    with pytest.raises(SealedValueUnreadable) as failed:
        TemplateBox(new).open_portrait(asset, org, before[1])
    assert failed.value.undetermined


def test_values_that_do_not_open_are_the_rows_fault_unless_the_keys_open_none() -> None:
    subject, bad, good = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    altered = SealedValueUnreadable("altered", asset_id=str(bad))
    undetermined = SealedValueUnreadable("v1", undetermined=True, asset_id=str(bad))
    unknown = SealingKeyMismatch("unknown key", asset_id=str(bad))
    # The keys open another reference of the subject: the row is bad, whatever the cause.
    for cause in (altered, undetermined, unknown):
        error = unopened_error({bad: cause}, opened=1, subject_id=subject, references=True)
        assert type(error) is SubjectReferenceUnreadable
        assert error.context == {"asset_ids": [str(bad)], "subject_id": str(subject)}
        assert str(bad) in error.message
        assert f"POST /v1/subjects/{subject}/references/{bad}/re-encode" in error.message
    # They open none, and the failure could be the key's: the deployment is misconfigured.
    for cause in (undetermined, unknown):
        error = unopened_error({bad: cause, good: altered}, opened=0, subject_id=subject,
                               references=True)
        assert type(error) is SealingKeyMismatch and error.context == {"subject_id": str(subject)}
    # They open none, but the key that sealed it is configured: still the row's fault.
    assert type(unopened_error({bad: altered}, opened=0, subject_id=subject,
                               references=True)) is SubjectReferenceUnreadable
    # An upload no subject has claimed yet (registration) is uploaded again, not re-encoded.
    unclaimed = unopened_error({bad: altered}, opened=1, subject_id=None, references=True)
    assert "upload the photo again" in unclaimed.message and "re-encode" not in unclaimed.message
    template = unopened_error({bad: altered}, opened=2, subject_id=subject)
    assert type(template) is SealedValueUnreadable
    assert template.context["template_ids"] == [str(bad)]
