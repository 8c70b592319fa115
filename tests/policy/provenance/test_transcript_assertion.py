"""The ``org.likeness.transcript`` assertion: the declared transcript's hash and language are
signed into the manifest and read back, never the text; malformed values are refused before
anything is signed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from policy.errors import ClaimInvalid
from policy.provenance import (
    TRANSCRIPT_LABEL,
    SigningIdentity,
    TranscriptRecord,
    read_manifest,
    sign_video,
)
from policy.provenance.claim import manifest_definition
from tests.policy.provenance.conftest import make_claim

TEXT = "Please bring me the blue map."
DIGEST = hashlib.sha256(TEXT.encode()).hexdigest()


def test_the_transcript_hash_is_signed_and_read_back(tmp_path: Path, source_mp4: Path,
                                                     identity: SigningIdentity,
                                                     root_pem: bytes) -> None:
    signed = tmp_path / "said.mp4"
    sign_video(source_mp4, signed, make_claim(transcript=TranscriptRecord(DIGEST, "en-US")),
               identity)
    report = read_manifest(signed, root_pem)
    assert report.state == "Trusted" and TRANSCRIPT_LABEL in report.assertions
    assert report.transcript == TranscriptRecord(DIGEST, "en-US")
    assert TEXT.encode() not in signed.read_bytes()  # the hash travels, not the words


def test_a_manifest_without_a_transcript_reads_none(signed_mp4: Path, root_pem: bytes) -> None:
    report = read_manifest(signed_mp4, root_pem)
    assert report.transcript is None and TRANSCRIPT_LABEL not in report.assertions


def test_the_definition_holds_hash_and_language_only() -> None:
    definition = manifest_definition(make_claim(transcript=TranscriptRecord(DIGEST, "fr")))
    [assertion] = [a for a in definition["assertions"] if a["label"] == TRANSCRIPT_LABEL]
    assert assertion["data"] == {"schema": 1, "alg": "sha256", "hash": DIGEST, "language": "fr"}


@pytest.mark.parametrize(("sha256", "language", "field"), [
    ("ab" * 31, "en", "transcript sha256"),
    (DIGEST.upper(), "en", "transcript sha256"),
    (DIGEST, "english", "transcript.language"),
    (DIGEST, "", "transcript.language"),
], ids=["short-hash", "upper-case-hash", "word-language", "empty-language"])
def test_malformed_records_are_refused(sha256: str, language: str, field: str) -> None:
    with pytest.raises(ClaimInvalid) as refused:
        TranscriptRecord(sha256, language)
    assert refused.value.context["field"] == field
