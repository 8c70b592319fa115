"""A job's declared transcript against its audio (espeak-ng speech, pocketsphinx alignment)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from policy.consent.evidence import check_transcript, normalise_transcript, transcript_sha256
from policy.errors import TranscriptInvalid
from training.espeak import synthesize

SAID = "Our new phone plan gives you twice the data for half the price, starting today."
OTHER = "I would never recommend this product to anyone, it is a scam."


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    synth = synthesize(SAID, voice="en-us+m3")
    return synth.samples, synth.sample_rate


def test_the_words_said_match(speech: tuple[np.ndarray, int]) -> None:
    result = check_transcript(*speech, SAID, "en-US")
    assert result.matched and result.status == "matched" and result.score == 1.0


@pytest.mark.parametrize("declared", [OTHER, "Vote for the other candidate next week."])
def test_other_words_do_not(speech: tuple[np.ndarray, int], declared: str) -> None:
    result = check_transcript(*speech, declared, "en")
    assert not result.matched and result.status == "mismatch" and result.reason


def test_languages_without_a_model_go_to_an_officer(speech: tuple[np.ndarray, int]) -> None:
    result = check_transcript(*speech, "Bonjour à tous, merci d'être venus.", "fr-CA")
    assert result.status == "unsupported" and result.score is None and not result.matched


def test_words_the_dictionary_lacks_cannot_be_checked(speech: tuple[np.ndarray, int]) -> None:
    result = check_transcript(*speech, "Zxqv blorptang quuxifer snarfle.", "en")
    assert result.status == "unsupported"


def test_silence_matches_nothing() -> None:
    assert check_transcript(np.zeros(0, np.float32), 16_000, SAID, "en").status == "mismatch"


def test_the_hash_is_over_the_normalised_text() -> None:
    text = "  Caf\u0065\u0301 is   open\n"  # e + combining acute: NFC makes it one code point
    assert normalise_transcript(text) == "Caf\u00e9 is open"
    assert transcript_sha256(text) == hashlib.sha256("Caf\u00e9 is open".encode()).hexdigest()
    assert transcript_sha256(text) == transcript_sha256("Caf\u00e9 is open")


@pytest.mark.parametrize("text", ["", "   ", "x" * 5001, None])
def test_empty_or_absurd_transcripts_are_refused(text: object) -> None:
    with pytest.raises(TranscriptInvalid):
        normalise_transcript(text)  # type: ignore[arg-type]
