"""Finding the statement and the phrase in espeak-ng speech."""

from __future__ import annotations

import numpy as np
import pytest

from policy.consent.evidence import Decision, EvidenceClip, EvidenceThresholds
from policy.consent.evidence.aligner import aligner
from policy.consent.evidence.challenge import tokens
from policy.consent.evidence.checks import spoken_script
from policy.consent.evidence.speech import PhraseFinding, find_phrase
from training.espeak import synthesize

STATEMENT = ("I, Ada Lovelace, consent to Acme Studios making videos of my likeness for "
             "education until the first of March, twenty twenty-seven.")
PHRASE = ("candle", "ocean", "squirrel", "planet")


def _find(spoken: str, voice: str = "en-us+f2") -> tuple[PhraseFinding, float]:
    synth = synthesize(f"{STATEMENT} {spoken}", voice=voice)
    finding = find_phrase(aligner(), synth.samples, synth.sample_rate, tokens(STATEMENT),
                          PHRASE)
    return finding, synth.duration


def _verdict(spoken: str) -> tuple[Decision, str | None]:
    synth = synthesize(f"{STATEMENT} {spoken}", voice="en-us+f2")
    finding = find_phrase(aligner(), synth.samples, synth.sample_rate, tokens(STATEMENT),
                          PHRASE)
    clip = EvidenceClip.from_frames([np.zeros((96, 96, 3), np.uint8)], 1.0, synth.samples,
                                    synth.sample_rate)
    result = spoken_script(clip, finding, PHRASE, EvidenceThresholds())
    return result.verdict, result.reason_code


def test_the_phrase_is_found_where_it_was_said() -> None:
    finding, duration = _find("Candle, ocean, squirrel, planet.")
    assert finding.located and finding.statement_coverage > 0.8
    assert [w for w, _, _ in finding.spans] == list(PHRASE)
    starts = [start for _, start, _ in finding.spans]
    assert starts == sorted(starts) and duration - 4.0 < starts[0] < duration
    assert finding.score > -30.0 and finding.words_recognised >= 2


def test_the_phrase_said_passes() -> None:
    assert _verdict("Candle, ocean, squirrel, planet.") == (Decision.PASS, None)


@pytest.mark.parametrize("spoken", ["Pony, cloud, rope, snow.", "Thank you very much."])
def test_other_words_are_not_taken_for_the_phrase(spoken: str) -> None:
    finding, _ = _find(spoken)
    assert finding.words_recognised == 0
    assert _verdict(spoken) in {(Decision.FAIL, "wrong_words"),
                                (Decision.FAIL, "words_not_spoken")}


def test_a_word_left_out_shows() -> None:
    finding, _ = _find("Candle, ocean.")
    assert set(finding.heard) & set(PHRASE) and len(finding.heard) < len(PHRASE)
    assert _verdict("Candle, ocean.") == (Decision.FAIL, "missing_words")


def test_silence_around_the_speech_changes_nothing() -> None:
    synth = synthesize(f"{STATEMENT} Candle, ocean, squirrel, planet.", voice="en-us+f2")
    padded = np.concatenate([np.zeros(synth.sample_rate, np.float32), synth.samples])
    finding = find_phrase(aligner(), padded, synth.sample_rate, tokens(STATEMENT), PHRASE)
    assert finding.located and finding.spans[0][1] > 1.0
