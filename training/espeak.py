"""Speech synthesis with phoneme timings, through a ctypes binding to ``libespeak-ng.so.1``.

The espeak-ng command line cannot report phoneme times without MBROLA, but its C API emits a
phoneme event (type 7) with the sample position of every phoneme when initialised with
``espeakINITIALIZE_PHONEME_EVENTS``. The library keeps one global synthesiser per process, so
every call here holds a lock; each process (e.g. a pool worker) initialises its own copy, and
each utterance is spoken in a forked child so that it does not depend on earlier ones.

    synth = synthesize("Hello there.", voice="en-us+f4", rate_wpm=170)
    synth.samples          # (N,) float32 in [-1, 1] at synth.sample_rate (22050 Hz)
    synth.phonemes[0]      # PhonemeEvent(symbol='h', start=0.012, end=0.063)
"""

from __future__ import annotations

import ctypes
import os
import pickle
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

LIBRARY = "libespeak-ng.so.1"

# Constants of speak_lib.h (espeak-ng 1.51).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000  # return an error instead of calling exit() when data is missing
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_EE_OK = 0


class EspeakError(RuntimeError):
    """espeak-ng is missing or refused a request. ``context`` holds the request's values.

    Training tooling only: the model library never synthesises speech, so this is not a
    ``ModelError``.
    """

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.context = context

    def __reduce__(self) -> tuple[Any, ...]:  # keep the context across a process boundary
        return (_rebuild_error, (str(self), self.context))


def _rebuild_error(message: str, context: dict[str, Any]) -> EspeakError:
    return EspeakError(message, **context)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character index
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # sample index (the same instant, finer)
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, name, NUL)*, then a NUL byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme: espeak mnemonic (e.g. ``aI``, ``_:`` for a pause) and its time span in s."""

    symbol: str
    start: float
    end: float


@dataclass(frozen=True)
class WordEvent:
    """One word: start time in s and its character span in the input text."""

    start: float
    text_position: int
    length: int
    text: str


@dataclass(frozen=True)
class Synthesis:
    """samples: (N,) float32 in [-1, 1] at ``sample_rate``; events ordered by time."""

    samples: np.ndarray
    sample_rate: int
    phonemes: list[PhonemeEvent]
    words: list[WordEvent]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class VoiceInfo:
    """A language voice (``identifier`` like ``gmw/en-US``) or a variant (``!v/m3``)."""

    name: str
    identifier: str
    languages: tuple[str, ...]
    gender: int  # 0 none, 1 male, 2 female


@dataclass(frozen=True)
class Voices:
    """What ``voice=`` accepts: ``"<language>"`` or ``"<language>+<variant>"``."""

    languages: tuple[VoiceInfo, ...]
    variants: tuple[VoiceInfo, ...]

    def language_codes(self) -> set[str]:
        return {code for v in self.languages for code in v.languages}

    def variant_names(self) -> set[str]:
        """Names usable after ``+`` (the file names under espeak-ng-data/voices/!v)."""
        return {v.identifier.split("/", 1)[-1] for v in self.variants}


class _Engine:
    """The process-global espeak-ng state: library handle, sample rate, event collector."""

    def __init__(self) -> None:
        try:
            self.lib = ctypes.CDLL(LIBRARY)
        except OSError as exc:
            raise EspeakError(f"cannot load {LIBRARY}: install libespeak-ng1", library=LIBRARY) from exc
        self.lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        self.lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        self.lib.espeak_Info.restype = ctypes.c_char_p
        flags = _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT
        self.sample_rate = int(self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, flags))
        if self.sample_rate <= 0:
            raise EspeakError("espeak-ng failed to initialise (data files missing?)",
                              code=self.sample_rate)
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, int, str]] = []
        self._callback = _CALLBACK(self._collect)  # kept alive: the library holds a raw pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.version = (self.lib.espeak_Info(None) or b"").decode()
        self._variants: set[str] | None = None

    def variant_names(self) -> set[str]:
        if self._variants is None:
            self._variants = _variant_names(self.lib)
        return self._variants

    def _collect(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                label = ev.id.string.decode("utf-8", "replace")
                self.events.append((ev.type, ev.sample, ev.text_position, ev.length, label))
            elif ev.type == _EVENT_WORD:
                self.events.append((ev.type, ev.sample, ev.text_position, ev.length, ""))
            i += 1
        return 0  # 0 = carry on synthesising


_lock = threading.Lock()
_engine: _Engine | None = None
_engine_pid = -1


def _get_engine() -> _Engine:
    """The engine of this process (a forked child re-initialises rather than share state)."""
    global _engine, _engine_pid
    if _engine is None or _engine_pid != os.getpid():
        _engine = _Engine()
        _engine_pid = os.getpid()
    return _engine


def espeak_version() -> str:
    with _lock:
        return _get_engine().version


def synthesize(
    text: str, voice: str = "en-us+m3", rate_wpm: int = 170, pitch: int = 50, pitch_range: int = 50
) -> Synthesis:
    """Speak ``text`` with an espeak-ng voice (``language`` or ``language+variant``).

    rate_wpm: 80..450 words per minute; pitch, pitch_range: 0..100 (espeak's 50 is normal).
    Phoneme ``end`` is the next phoneme's start (the last one ends with the audio); events of
    zero length (language-switch markers such as ``(en)``) are dropped.

    Reproducible: espeak-ng keeps wave-generator state (pitch-cycle phase, flutter, noise) from
    one utterance to the next, so speaking in-process would make the samples depend on what was
    said before. Each call therefore speaks in a forked child of this process, whose library is
    initialised but has never spoken (about 10 ms extra); the same request gives the same samples.
    """
    if not text.strip():
        raise EspeakError("nothing to say: the text is empty", text=text)
    checks = {"rate_wpm": (rate_wpm, 80, 450), "pitch": (pitch, 0, 100),
              "pitch_range": (pitch_range, 0, 100)}
    for name, (value, low, high) in checks.items():
        if not low <= value <= high:
            raise EspeakError(f"{name} must be in [{low}, {high}]; got {value}", **{name: value})
    with _lock:
        engine = _get_engine()
        variant = voice.partition("+")[2]
        if variant and variant not in engine.variant_names():
            # espeak-ng would silently speak with its default variant
            raise EspeakError(f"espeak-ng has no voice variant {variant!r}", voice=voice)
        request = (text, voice, rate_wpm, pitch, pitch_range)
        if not hasattr(os, "fork"):  # no fork (not POSIX): in-process, not reproducible
            return _speak(engine, *request)
        return _speak_in_child(engine, request)


def _speak_in_child(engine: _Engine, request: tuple[str, str, int, int, int]) -> Synthesis:
    """Run ``_speak`` in a forked child and return its result (or raise its error)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 0
        try:
            os.close(read_fd)
            try:
                payload = pickle.dumps(_speak(engine, *request))
            except Exception as exc:  # sent to the parent, which raises it
                payload = pickle.dumps(exc)
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            code = 1
        finally:
            os._exit(code)  # skip atexit handlers and buffered output inherited from the parent
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not payload:
        raise EspeakError("the espeak-ng child process failed", voice=request[1], status=status)
    result = pickle.loads(payload)
    if isinstance(result, Exception):
        raise result
    return result


def _speak(engine: _Engine, text: str, voice: str, rate_wpm: int, pitch: int,
           pitch_range: int) -> Synthesis:
    if engine.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
        raise EspeakError(f"espeak-ng has no voice {voice!r}", voice=voice)
    for param, value in ((_PARAM_RATE, rate_wpm), (_PARAM_PITCH, pitch),
                         (_PARAM_RANGE, pitch_range), (_PARAM_VOLUME, 100)):
        engine.lib.espeak_SetParameter(param, int(value), 0)
    engine.chunks, engine.events = [], []
    data = text.encode("utf-8")
    status = engine.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                     None, None)
    chunks, events, rate = engine.chunks, engine.events, engine.sample_rate
    engine.chunks, engine.events = [], []
    if status != _EE_OK:
        raise EspeakError("espeak-ng failed to synthesise", voice=voice, status=status)
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    samples = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
    phonemes = _phoneme_spans(events, len(samples), rate)
    words = [
        WordEvent(sample / rate, pos, length, text[pos - 1: pos - 1 + length])
        for kind, sample, pos, length, _ in events if kind == _EVENT_WORD and length > 0
    ]
    return Synthesis(samples, rate, phonemes, words)


def _phoneme_spans(events: list[tuple[int, int, int, int, str]], n_samples: int,
                   rate: int) -> list[PhonemeEvent]:
    starts = [(min(sample, n_samples), label) for kind, sample, _, _, label in events
              if kind == _EVENT_PHONEME and label and not label.startswith("(")]
    spans = []
    for i, (start, label) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else n_samples
        if end > start:
            spans.append(PhonemeEvent(label, start / rate, end / rate))
    return spans


def list_voices() -> Voices:
    """Every language voice and voice variant this espeak-ng installation has."""
    with _lock:
        lib = _get_engine().lib
        return Voices(_read_voices(lib.espeak_ListVoices(None)), _list_variants(lib))


def _list_variants(lib: Any) -> tuple[VoiceInfo, ...]:
    spec = _Voice()
    variant_key = ctypes.c_char_p(b"variant")  # kept referenced while the call reads it
    spec.languages = ctypes.cast(variant_key, ctypes.c_void_p)
    return _read_voices(lib.espeak_ListVoices(ctypes.byref(spec)))


def _variant_names(lib: Any) -> set[str]:
    return {v.identifier.split("/", 1)[-1] for v in _list_variants(lib)}


def _read_voices(array: Any) -> tuple[VoiceInfo, ...]:
    out = []
    i = 0
    while array[i]:
        voice = array[i].contents
        codes, offset = [], 0
        while voice.languages and ctypes.c_ubyte.from_address(voice.languages + offset).value:
            code = ctypes.string_at(voice.languages + offset + 1)
            codes.append(code.decode())
            offset += len(code) + 2  # priority byte + name + NUL
        out.append(VoiceInfo(voice.name.decode("utf-8", "replace"), voice.identifier.decode(),
                             tuple(codes), int(voice.gender)))
        i += 1
    return tuple(out)
