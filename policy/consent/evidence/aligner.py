"""pocketsphinx as a forced aligner and a small-grammar recogniser (US English).

Free recognition of synthetic or accented voices is poor; constrained search is not. Everything
here is a finite-state grammar over known words, searched with wide beams (the correct path of an
unusual voice falls out of pocketsphinx's default beams and the search then "fails"); forced
alignments are realigned at phone level (``set_alignment``) to get an acoustic log-likelihood for
every 10 ms frame. Two alignments of the same audio compare frame by frame: that is the spoken
check's score, and against a free phone loop (``free_phones``) the transcript check's.

One ``Aligner`` holds two decoders (~0.2 s to load, not thread-safe; switching one decoder between
alignment and grammar search crashed it): ``aligner()`` keeps one per thread. Audio is resampled
to 16 kHz 16-bit PCM (``to_pcm16``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd

import numpy as np
from pocketsphinx import Decoder
from scipy.signal import resample_poly

ALIGN_RATE = 16_000
FRAMES_PER_SECOND = 100  # pocketsphinx's 10 ms frames
# Forced alignment keeps an unusual voice's path only with very wide beams; the recognition
# grammars are searched narrower (1e-80): 2x faster, and a phrase that is not there is then
# more often not found at all (measured in benchmarks/consent_checks.py).
ALIGN_BEAM = 1e-200
GRAMMAR_BEAM = 1e-80
GARBAGE = "[SPEECH]"  # the acoustic model's generic-speech filler (+SPN+)
_NON_WORDS = frozenset({"<s>", "</s>", "<sil>", "(NULL)"})
# The acoustic model's phones, each also a one-phone "word" for a free phone loop (the
# garbage model a forced alignment is compared with).
PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
          "UH UW V W Y Z ZH").split()
PHONE_WORDS = tuple(f"ph_{p.lower()}" for p in PHONES)

# One step of a chain grammar: the words allowed there (with probabilities) and the chance of
# skipping the step altogether (0: the step is required).
Step = tuple[tuple[tuple[str, float], ...], float]


@dataclass(frozen=True)
class WordSpan:
    """A word found in the audio: frames [start, end) at 100 per second."""

    word: str
    start: int
    end: int

    @property
    def seconds(self) -> tuple[float, float]:
        return self.start / FRAMES_PER_SECOND, self.end / FRAMES_PER_SECOND


@dataclass(frozen=True)
class Alignment:
    """words: the aligned words in order (fillers dropped). frame_scores: (F,) float64 acoustic
    log-likelihood of each frame under this alignment (pocketsphinx's integer log base)."""

    words: tuple[WordSpan, ...]
    frame_scores: np.ndarray

    def score(self, start: int, end: int) -> float:
        return float(self.frame_scores[start:end].sum())


def to_pcm16(samples: np.ndarray, sample_rate: int) -> bytes:
    """(N,) float32 at any rate -> 16 kHz mono signed 16-bit little-endian bytes."""
    x = np.asarray(samples, np.float64)
    if sample_rate != ALIGN_RATE and len(x):
        g = gcd(int(sample_rate), ALIGN_RATE)
        x = resample_poly(x, ALIGN_RATE // g, int(sample_rate) // g)
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class Aligner:
    def __init__(self) -> None:
        # Two decoders: switching one between alignment and grammar search can crash it.
        self.decoder = _decoder(ALIGN_BEAM)
        self._grammar = _decoder(GRAMMAR_BEAM)
        for decoder in (self.decoder, self._grammar):
            for word, phone in zip(PHONE_WORDS, PHONES):
                decoder.add_word(word, phone, False)
            decoder.add_word("ph_sil", "SIL", True)

    def known(self, word: str) -> bool:
        return self.decoder.lookup_word(word) is not None

    def align(self, pcm: bytes, words: Sequence[str]) -> Alignment | None:
        """Force ``words`` (all known, fillers allowed) onto the audio; None if they cannot be."""
        if not words:
            return None
        try:
            self.decoder.set_align_text(" ".join(words))
        except RuntimeError:
            return None
        if not _decode(self.decoder, pcm):
            return None
        try:
            self.decoder.set_alignment()
            _decode(self.decoder, pcm, hypothesis=False)  # hyp() crashes in this mode
        except RuntimeError:
            return None
        alignment = self.decoder.get_alignment()
        if alignment is None:
            return None
        frames = np.zeros(len(pcm) // 2 // (ALIGN_RATE // FRAMES_PER_SECOND) + 2, np.float64)
        for phone in alignment.phones():
            if phone.duration > 0:
                stop = min(phone.start + phone.duration, len(frames))
                frames[phone.start:stop] = phone.score / phone.duration
        spans = tuple(WordSpan(_base(w.name), w.start, w.start + w.duration)
                      for w in alignment.words() if _is_word(w.name))
        return Alignment(spans, frames)

    def recognise(self, pcm: bytes, steps: Sequence[Step], *, garbage_loops: bool = False
                  ) -> list[str] | None:
        """The best word sequence through a chain grammar of ``steps``; with ``garbage_loops``
        any amount of unmatched speech may come before, between and after the steps."""
        spans = self.recognise_spans(pcm, steps, garbage_loops=garbage_loops)
        return None if spans is None else [s.word for s in spans]

    def recognise_spans(self, pcm: bytes, steps: Sequence[Step], *,
                        garbage_loops: bool = False) -> list[WordSpan] | None:
        """``recognise`` with each word's frames (fillers dropped)."""
        transitions: list[tuple[int, int, float] | tuple[int, int, float, str]] = []
        for state, (choices, skip) in enumerate(steps):
            for word, prob in choices:
                transitions.append((state, state + 1, prob, word))
            if skip > 0:
                transitions.append((state, state + 1, skip))
            if garbage_loops:
                transitions.append((state, state, 0.05, GARBAGE))
        final = len(steps)
        if garbage_loops:
            transitions.append((final, final, 0.05, GARBAGE))
        fsg = self._grammar.create_fsg("chain", 0, final, transitions)
        self._grammar.add_fsg("chain", fsg)  # replaces the previous chain grammar
        self._grammar.activate_search("chain")
        if not _decode(self._grammar, pcm):
            return None
        return [WordSpan(_base(s.word), s.start_frame, s.end_frame + 1)
                for s in self._grammar.seg() if _is_word(s.word)]


    def free_phones(self, pcm: bytes) -> Alignment | None:
        """The best phone sequence with no constraint (a phone loop), aligned like words."""
        loop = tuple((w, 1.0 / len(PHONE_WORDS)) for w in PHONE_WORDS)
        fsg = self._grammar.create_fsg(
            "phones", 0, 1, [(0, 1, p, w) for w, p in loop] + [(1, 1, p, w) for w, p in loop])
        self._grammar.add_fsg("phones", fsg)
        self._grammar.activate_search("phones")
        if not _decode(self._grammar, pcm):
            return None
        phones = [_base(s.word) for s in self._grammar.seg() if s.word.startswith("ph_")]
        return self.align(pcm, phones)


def _decoder(beam: float) -> Decoder:
    return Decoder(lm=None, loglevel="FATAL", bestpath=False, beam=beam, pbeam=beam,
                   wbeam=beam * 1e20)


def _decode(decoder: Decoder, pcm: bytes, hypothesis: bool = True) -> bool:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return not hypothesis or decoder.hyp() is not None


def _base(word: str) -> str:
    return word.split("(", 1)[0]


def _is_word(word: str) -> bool:
    return word not in _NON_WORDS and not word.startswith(("[", "+"))


_local = threading.local()


def aligner() -> Aligner:
    """This thread's aligner (a decoder is not safe to share between threads)."""
    if getattr(_local, "aligner", None) is None:
        _local.aligner = Aligner()
    return _local.aligner
