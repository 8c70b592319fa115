"""Claims validate their fields before anything is signed."""

from __future__ import annotations

import pytest

from policy.errors import ClaimInvalid
from policy.provenance import IngredientRecord, SoftBinding
from policy.provenance.claim import TRAINING_MINING_USES, manifest_definition
from tests.policy.provenance.conftest import ALG, make_claim


@pytest.mark.parametrize(("changes", "field"), [
    ({"asset_id": "0123456789ABCD"}, "asset_id"),
    ({"asset_id": "0123"}, "asset_id"),
    ({"weights_sha256": "xyz"}, "weights_sha256"),
    ({"model_name": " "}, "model_name"),
    ({"ingredients": (IngredientRecord("speech", "audio/wav", "a" * 64),) * 2}, "ingredients"),
])
def test_malformed_claims_are_refused(changes: dict, field: str) -> None:
    with pytest.raises(ClaimInvalid) as caught:
        make_claim(**changes)
    assert caught.value.context["field"] == field


def test_ingredient_and_soft_binding_checks() -> None:
    with pytest.raises(ClaimInvalid, match="sha256"):
        IngredientRecord("portrait", "image/png", "A" * 64)
    with pytest.raises(ClaimInvalid, match="type/subtype"):
        IngredientRecord("portrait", "png", "a" * 64)
    with pytest.raises(ClaimInvalid, match="bytes"):
        SoftBinding(ALG, b"")
    with pytest.raises(ClaimInvalid, match="dotted"):
        SoftBinding("Tiled SS", b"12345678")


def test_definition_holds_no_content_and_denies_every_use() -> None:
    definition = manifest_definition(make_claim())
    assert all(set(i) == {"title", "format", "relationship", "instance_id", "label"}
               for i in definition["ingredients"])
    mining = next(a for a in definition["assertions"] if a["label"] == "cawg.training-mining")
    assert set(mining["data"]["entries"]) == set(TRAINING_MINING_USES)
    assert definition["claim_generator_info"] == [{"name": "likeness", "version": "0.3.0"}]
