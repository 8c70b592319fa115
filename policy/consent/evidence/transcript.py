"""Does a job's audio say the transcript the partner declared? (English, by forced alignment.)

    transcript -> normalised (NFC, whitespace collapsed) -> its SHA-256 (``transcript_sha256``)
               -> words; numbers and words the dictionary lacks become generic speech
    audio -> the declared words forced onto it, and the best free phone sequence, both aligned
             at phone level -> each word's likelihood margin (forced - free, per frame)
    matched: the alignment exists and at least ``MIN_WORDS_OK`` of the checkable words have a
             margin above ``WORD_MARGIN``; score: that share (0..1)

Languages other than English are ``unsupported``: pocketsphinx ships one acoustic model, and
the service sends those transcripts to an officer.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from policy.consent.evidence.aligner import GARBAGE, Aligner, aligner, to_pcm16
from policy.consent.evidence.challenge import tokens
from policy.errors import TranscriptInvalid

SUPPORTED_LANGUAGES = frozenset({"en"})
MAX_TRANSCRIPT_CHARS = 5000
WORD_MARGIN = -45.0  # per-frame margin below which a word is taken as not said
MIN_WORDS_OK = 0.8  # share of checkable words that must clear the margin
MIN_CHECKABLE = 0.5  # share of the words the dictionary must know for a verdict
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TranscriptCheck:
    """status: "matched", "mismatch" or "unsupported" (the language or the words cannot be
    checked here: an officer must). score: share of words heard (0..1), None if not measured."""

    status: str
    score: float | None
    reason: str | None

    @property
    def matched(self) -> bool:
        return self.status == "matched"


def normalise_transcript(text: str) -> str:
    """NFC, runs of whitespace as one space, trimmed: what the hash is taken over."""
    if not isinstance(text, str):
        raise TranscriptInvalid("a transcript is text", type=type(text).__name__)
    normal = _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if not 0 < len(normal) <= MAX_TRANSCRIPT_CHARS:
        raise TranscriptInvalid(f"a transcript is 1-{MAX_TRANSCRIPT_CHARS} characters",
                                chars=len(normal))
    return normal


def transcript_sha256(text: str) -> str:
    return hashlib.sha256(normalise_transcript(text).encode("utf-8")).hexdigest()


def check_transcript(audio: np.ndarray, sample_rate: int, transcript: str, language: str,
                     speech_aligner: Aligner | None = None) -> TranscriptCheck:
    """Whether ``audio`` ((N,) float32 mono) says ``transcript`` (see module doc)."""
    text = normalise_transcript(transcript)
    if not isinstance(language, str) or language.split("-")[0].lower() not in \
            SUPPORTED_LANGUAGES:
        return TranscriptCheck("unsupported", None, f"the aligner has no model for language "
                               f"{language!r}: an officer must check the transcript")
    engine = speech_aligner or aligner()
    words = [w if engine.known(w) else GARBAGE for w in tokens(text)]
    checkable = [w for w in words if w != GARBAGE]
    if not checkable or len(checkable) < MIN_CHECKABLE * len(words):
        return TranscriptCheck("unsupported", None, "too few of the transcript's words are in "
                               "the aligner's dictionary: an officer must check it")
    samples = np.asarray(audio, np.float32)
    if len(samples) == 0 or not np.all(np.isfinite(samples)):
        return TranscriptCheck("mismatch", 0.0, "the audio holds no usable samples")
    pcm = to_pcm16(samples, sample_rate)
    forced = engine.align(pcm, words)
    if forced is None:
        return TranscriptCheck("mismatch", 0.0, "the declared words cannot be aligned with the "
                               "audio: it says something else")
    free = engine.free_phones(pcm)
    if free is None:
        return TranscriptCheck("mismatch", 0.0, "the audio could not be decoded")
    margins = [(forced.score(s.start, s.end) - free.score(s.start, s.end))
               / max(s.end - s.start, 1) for s in forced.words]
    share = float(np.mean(np.array(margins) >= WORD_MARGIN)) if margins else 0.0
    if share >= MIN_WORDS_OK:
        return TranscriptCheck("matched", round(share, 4), None)
    return TranscriptCheck("mismatch", round(share, 4), f"only {share:.0%} of the declared words "
                           "were heard in the audio")
