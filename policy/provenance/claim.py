"""What a likeness manifest says, as typed values, and the manifest definition the SDK signs.

The dataclasses validate themselves (``ClaimInvalid``), so a malformed asset id or hash is caught
before anything is signed. ``manifest_definition`` turns a claim into the JSON definition
c2pa-python's ``Builder`` takes; ``reading.py`` parses the same labels back. The labels and the
digital source type are the only strings both sides share, so they live here.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from policy.errors import ClaimInvalid

# IPTC term C2PA readers use to flag AI-generated media (first action ``c2pa.created``).
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ACTIONS_LABELS = ("c2pa.actions", "c2pa.actions.v2")
SOFT_BINDING_LABEL = "c2pa.soft-binding"
TRAINING_MINING_LABEL = "cawg.training-mining"
ASSET_LABEL = "org.likeness.asset"
ASSET_SCHEMA_VERSION = 1
# What the subject is made to say: the declared transcript's SHA-256 and language, never the
# text (the file must not carry it; whoever holds the text can prove it is the one).
TRANSCRIPT_LABEL = "org.likeness.transcript"
TRANSCRIPT_SCHEMA_VERSION = 1
# Every CAWG training/mining use we deny: a likeness must not feed anyone's model.
TRAINING_MINING_USES = (
    "cawg.ai_generative_training",
    "cawg.ai_inference",
    "cawg.ai_training",
    "cawg.data_mining",
)
# An ingredient's content hash travels as its instanceID: C2PA ingredient v3 has no plain
# content-hash field for an asset without a manifest, and the SDK drops unknown keys.
INGREDIENT_ID_PREFIX = "sha256:"
MEDIA_FORMAT = "video/mp4"
MAX_SOFT_BINDING_BYTES = 64

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ASSET_ID = re.compile(r"[0-9a-f]{14}")
_ALG_ID = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
_MEDIA_TYPE = re.compile(r"[a-z]+/[a-z0-9.+-]+")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


@dataclass(frozen=True)
class SoftBinding:
    """The watermark payload as a C2PA soft binding: lets a stripped copy be matched again."""

    alg: str  # our own algorithm id, e.g. "org.likeness.watermark.tiled-ss.1"
    value: bytes  # the watermark payload (8 bytes today); base64 in the manifest

    def __post_init__(self) -> None:
        if not _ALG_ID.fullmatch(self.alg):
            raise ClaimInvalid(
                f"soft-binding algorithm id {self.alg!r} is not a dotted lowercase identifier",
                field="soft_binding.alg",
            )
        if not 1 <= len(self.value) <= MAX_SOFT_BINDING_BYTES:
            raise ClaimInvalid(
                f"soft-binding value must be 1-{MAX_SOFT_BINDING_BYTES} bytes, "
                f"got {len(self.value)}",
                field="soft_binding.value",
            )


@dataclass(frozen=True)
class IngredientRecord:
    """An input (portrait, speech) recorded by hash only: no thumbnail, no content."""

    title: str  # "portrait", "speech"
    media_type: str  # "image/png", "audio/wav"
    sha256: str  # hex digest of the uploaded bytes

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ClaimInvalid("ingredient title must not be empty", field="ingredient.title")
        if not _MEDIA_TYPE.fullmatch(self.media_type):
            raise ClaimInvalid(f"ingredient media type {self.media_type!r} is not type/subtype",
                               field="ingredient.media_type")
        _require_sha256(self.sha256, f"ingredient {self.title!r} sha256")


@dataclass(frozen=True)
class TranscriptRecord:
    """The declared transcript of the speech, by hash: who made the subject say what."""

    sha256: str  # hex digest of the transcript as declared (UTF-8, NFC, trimmed)
    language: str  # BCP 47 tag, e.g. "en", "en-US", "fr"

    def __post_init__(self) -> None:
        _require_sha256(self.sha256, "transcript sha256")
        if not _LANGUAGE.fullmatch(self.language):
            raise ClaimInvalid(f"transcript language {self.language!r} is not a BCP 47 tag",
                               field="transcript.language")


@dataclass(frozen=True)
class ProvenanceClaim:
    """Everything one released video's manifest states about it."""

    asset_id: str  # 14 hex digits, also inside the watermark payload
    title: str  # the file's title
    model_name: str  # "likeness-motion-dit"
    model_version: str
    weights_sha256: str
    generator: str  # "likeness/0.3.0" -> claim_generator_info
    ingredients: tuple[IngredientRecord, ...]
    soft_binding: SoftBinding
    transcript: TranscriptRecord | None = None  # every released video has one

    def __post_init__(self) -> None:
        if not _ASSET_ID.fullmatch(self.asset_id):
            raise ClaimInvalid(f"asset id {self.asset_id!r} is not 14 lowercase hex digits",
                               field="asset_id")
        for name in ("title", "model_name", "model_version", "generator"):
            if not getattr(self, name).strip():
                raise ClaimInvalid(f"{name} must not be empty", field=name)
        _require_sha256(self.weights_sha256, "weights_sha256")
        titles = [ingredient.title for ingredient in self.ingredients]
        if len(set(titles)) != len(titles):
            raise ClaimInvalid(f"ingredient titles repeat: {titles}", field="ingredients")

    @property
    def generator_name(self) -> str:
        return self.generator.partition("/")[0]

    @property
    def generator_version(self) -> str | None:
        return self.generator.partition("/")[2] or None


def manifest_definition(claim: ProvenanceClaim) -> dict[str, Any]:
    """The SDK's manifest definition (JSON document) for ``claim``."""
    generator: dict[str, str] = {"name": claim.generator_name}
    if claim.generator_version:
        generator["version"] = claim.generator_version
    model_agent = {
        "name": claim.model_name,
        "version": claim.model_version,
        "weights_sha256": claim.weights_sha256,
    }
    ingredient_ids = [f"ingredient-{index}" for index in range(len(claim.ingredients))]
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": model_agent,
    }
    if ingredient_ids:
        # The SDK turns these ids into hashed links to the ingredient assertions.
        created["parameters"] = {"ingredientIds": ingredient_ids}
    return {
        "claim_generator_info": [generator],
        "title": claim.title,
        "format": MEDIA_FORMAT,
        "ingredients": [
            {
                "title": ingredient.title,
                "format": ingredient.media_type,
                "relationship": "inputTo",
                "instance_id": INGREDIENT_ID_PREFIX + ingredient.sha256,
                "label": label,
            }
            for label, ingredient in zip(ingredient_ids, claim.ingredients)
        ],
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                created,
                {"action": "c2pa.watermarked", "softwareAgent": generator},
            ]}},
            {"label": SOFT_BINDING_LABEL, "data": {
                "alg": claim.soft_binding.alg,
                # An empty scope: the binding covers the whole asset.
                "blocks": [{"scope": {},
                            "value": base64.b64encode(claim.soft_binding.value).decode()}],
            }},
            {"label": TRAINING_MINING_LABEL, "data": {
                "entries": {use: {"use": "notAllowed"} for use in TRAINING_MINING_USES},
            }},
            {"label": ASSET_LABEL, "data": {
                "schema": ASSET_SCHEMA_VERSION,
                "asset_id": claim.asset_id,
                "model": model_agent,
            }},
            *_transcript_assertions(claim.transcript),
        ],
    }


def _transcript_assertions(transcript: TranscriptRecord | None) -> list[dict[str, Any]]:
    if transcript is None:
        return []
    return [{"label": TRANSCRIPT_LABEL, "data": {
        "schema": TRANSCRIPT_SCHEMA_VERSION,
        "alg": "sha256",
        "hash": transcript.sha256,
        "language": transcript.language,
    }}]


def _require_sha256(value: str, field: str) -> None:
    if not _HEX64.fullmatch(value):
        raise ClaimInvalid(f"{field} is not 64 lowercase hex digits: {value!r}", field=field)
