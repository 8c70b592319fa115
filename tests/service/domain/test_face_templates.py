"""``TemplateBox``: one AES-256-GCM implementation for both kinds of sealed face encoding, each
bound to its row by the associated data."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from service.domain.face_templates import TemplateBox
from service.errors import KeysError, PepperInvalid
from service.settings import Settings

BOX = TemplateBox(bytes(range(32)))


def _encoding(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.1, 128).astype(np.float32)


def test_a_portrait_encoding_opens_only_on_its_own_asset_and_organisation() -> None:
    asset, org, encoding = uuid.uuid4(), uuid.uuid4(), _encoding()
    sealed = BOX.seal_portrait(asset, org, encoding)
    assert len(sealed) == 1 + 12 + 512 + 16
    assert BOX.open_portrait(asset, org, sealed).tobytes() == encoding.tobytes()
    # Fresh nonce per seal: the same encoding never seals to the same bytes twice.
    assert BOX.seal_portrait(asset, org, encoding) != sealed
    for other_asset, other_org in ((uuid.uuid4(), org), (asset, uuid.uuid4())):
        with pytest.raises(KeysError, match="does not decrypt") as failed:
            BOX.open_portrait(other_asset, other_org, sealed)
        assert failed.value.context == {"asset_id": str(other_asset)}
    with pytest.raises(KeysError, match="does not decrypt"):
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
