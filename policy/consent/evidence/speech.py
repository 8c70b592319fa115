"""Was the challenge spoken? Find the script in the audio, then test each phrase word.

    audio -> 16 kHz PCM
      -> locate: a chain grammar of the statement's words (each may be skipped) then the phrase
         words, with generic speech ([SPEECH]) allowed anywhere between -> where each phrase
         word would be (the search's own segmentation), and how much of the statement was found
         (not found: which list words were said after the statement, to tell missing words
         from other words)
      -> judge, on the phrase region only (+-0.1/0.2 s):
         heard: the best sequence of words from the whole word list (each slot skippable)
         score of word i = (log-likelihood of the region's frames under the expected phrase
                            - under what was heard), per frame, over word i's frames
      -> min over the words: ~0 when the phrase was said, strongly negative when a word is
         wrong or missing (the list's words differ by >= 3 phones, so a wrong word is heard
         as itself and out-scores the expected one)

Measured on espeak-ng voices (``benchmarks/consent_checks.py``): free recognition of synthetic
voices is poor, and a word-list recogniser alone mishears about one word in four even when the
phrase was said; the likelihood margin separates said from not said far better, because a
mishearing costs little and a wrong word costs a lot. The check passes a phrase only when the
margin is small *and* the recogniser heard at least half of its words by itself
(``words_recognised``), which no clip with other words reached in the measurements
(``reports/consent/checks.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policy.consent.evidence.aligner import (
    FRAMES_PER_SECOND, GARBAGE, Aligner, Step, WordSpan, to_pcm16,
)
from policy.consent.evidence.words import WORD_LIST

SAMPLES_PER_FRAME = 16_000 // FRAMES_PER_SECOND
STATEMENT_SKIP = 0.1  # chance of skipping one statement word (misread, dropped, mumbled)
SLOT_SKIP = 0.05  # chance a phrase slot holds no word (a missing word)
REGION_BEFORE, REGION_AFTER = 10, 20  # frames of context around the located phrase


@dataclass(frozen=True)
class PhraseFinding:
    """What the aligner found of the phrase (all times in seconds).

    spans: where each expected word was placed in the whole audio (always all of them when
        ``located``; a forced placement, not proof). heard: the list words recognised in the
        phrase region. word_scores: per-word likelihood margin (<= ~0; see module doc).
    statement_coverage: share of the statement's words the locating pass kept.
    """

    located: bool
    spans: tuple[tuple[str, float, float], ...]
    heard: tuple[str, ...]
    word_scores: tuple[float, ...]
    statement_coverage: float
    expected: tuple[str, ...] = ()

    @property
    def score(self) -> float | None:
        return min(self.word_scores) if self.word_scores else None

    @property
    def words_recognised(self) -> int:
        """How many phrase words the word-list recogniser heard by itself (any order): a clip
        that does not say the phrase gets 0 (measured: never more than 0 for other words)."""
        return len(set(self.heard) & set(self.expected))


def find_phrase(aligner: Aligner, samples: np.ndarray, sample_rate: int,
                statement_tokens: list[str], phrase: tuple[str, ...]) -> PhraseFinding:
    """Locate the statement + phrase in the audio and score each phrase word (module doc)."""
    pcm = to_pcm16(samples, sample_rate)
    statement = [w if aligner.known(w) else GARBAGE for w in statement_tokens]
    located = _locate_spans(aligner, pcm, statement, phrase)
    if located is None:
        return _what_was_said(aligner, pcm, statement, phrase)
    kept = len(located) - len(phrase)
    coverage = kept / max(1, sum(1 for w in statement if w != GARBAGE))
    spans = located[-len(phrase):]
    start = max(0, spans[0].start - REGION_BEFORE)
    end = min(len(pcm) // 2 // SAMPLES_PER_FRAME, spans[-1].end + REGION_AFTER)
    region = pcm[start * SAMPLES_PER_FRAME * 2: end * SAMPLES_PER_FRAME * 2]
    heard, scores = _judge(aligner, region, phrase)
    return PhraseFinding(True, tuple((s.word, *s.seconds) for s in spans), heard, scores,
                         coverage, tuple(phrase))


def _locate_spans(aligner: Aligner, pcm: bytes, statement: list[str],
                  phrase: tuple[str, ...]) -> list[WordSpan] | None:
    """The statement words kept and the phrase, in order, with their frames; None if nothing
    fits at all."""
    steps: list[Step] = [(((w, 1.0),), STATEMENT_SKIP) for w in statement if w != GARBAGE]
    steps += [(((w, 1.0),), 0.0) for w in phrase]
    spans = aligner.recognise_spans(pcm, steps, garbage_loops=True)
    if spans is None or [s.word for s in spans[-len(phrase):]] != list(phrase):
        return None
    return spans


def _what_was_said(aligner: Aligner, pcm: bytes, statement: list[str],
                   phrase: tuple[str, ...]) -> PhraseFinding:
    """The phrase is not there: which list words were said after the statement (if any), so
    the partner hears whether words were missing or different."""
    steps: list[Step] = [(((w, 1.0),), STATEMENT_SKIP) for w in statement if w != GARBAGE]
    spans = aligner.recognise_spans(pcm, steps, garbage_loops=True) if steps else []
    after = spans[-1].end if spans else 0
    choices = tuple((w, 1.0 / len(WORD_LIST)) for w in WORD_LIST)
    region = pcm[after * SAMPLES_PER_FRAME * 2:]
    heard = aligner.recognise(region, [(choices, SLOT_SKIP)] * len(phrase),
                              garbage_loops=True) if len(region) > 3200 else None
    return PhraseFinding(False, (), tuple(w for w in heard or () if w in WORD_LIST), (), 0.0,
                         tuple(phrase))


def _judge(aligner: Aligner, region: bytes, phrase: tuple[str, ...]
           ) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """What the word list hears in the region, and each expected word's likelihood margin."""
    choices = tuple((w, 1.0 / len(WORD_LIST)) for w in WORD_LIST)
    slots: list[Step] = [(choices, SLOT_SKIP)] * len(phrase)
    heard = tuple(w for w in aligner.recognise(region, slots) or () if w in WORD_LIST)
    expected = aligner.align(region, phrase)
    if expected is None or len(expected.words) != len(phrase):
        return heard, tuple(-np.inf for _ in phrase)
    if heard == phrase:
        return heard, tuple(0.0 for _ in phrase)
    alternative = aligner.align(region, heard) if heard else None
    if alternative is None:
        return heard, tuple(-np.inf for _ in phrase)
    return heard, tuple(_margin(expected.frame_scores, alternative.frame_scores, span)
                        for span in expected.words)


def _margin(expected: np.ndarray, alternative: np.ndarray, span: WordSpan) -> float:
    n = min(len(expected), len(alternative))
    start, end = min(span.start, n), min(span.end, n)
    frames = max(end - start, 1)
    return float(expected[start:end].sum() - alternative[start:end].sum()) / frames
