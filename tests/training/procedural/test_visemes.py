import numpy as np
import pytest

from training.espeak import PhonemeEvent, synthesize
from training.procedural.visemes import (
    JAW, LEAD_S, NEUTRAL_VOWEL, PAUSE, PRESS, ROUND, WIDTH, mouth_from_energy, mouth_from_phonemes,
    visemes_of,
)

FPS = 25.0


def _sequence(items: list[tuple[str, float]], start: float = 0.4) -> list[PhonemeEvent]:
    """Phonemes back to back from ``start``: (symbol, duration s)."""
    out, t = [], start
    for symbol, duration in items:
        out.append(PhonemeEvent(symbol, t, t + duration))
        t += duration
    return out


def _frames_of(p: PhonemeEvent) -> slice:
    return slice(int(p.start * FPS), int(np.ceil(p.end * FPS)))


def test_symbol_classes():
    for bilabial in ("p", "b", "m", "m-", "b#"):
        assert visemes_of(bilabial)[0].closes_lips, bilabial
    assert len(visemes_of("aI")) == 2 and visemes_of("aI")[0].target[JAW] > 0.6
    assert visemes_of("u:")[0].target[ROUND] > 0.8 and visemes_of("u:")[0].target[WIDTH] < 0
    assert visemes_of("i:")[0].target[WIDTH] > 0.5 and visemes_of("i:")[0].target[ROUND] == 0
    assert visemes_of("_:") == (PAUSE,) and visemes_of("_|") == (PAUSE,)
    assert visemes_of("f")[0].target[PRESS] > 0.3 and visemes_of("f")[0].target[JAW] < 0.1
    assert visemes_of("\u0250") == (NEUTRAL_VOWEL,)  # not an espeak mnemonic: vowel-ish
    assert visemes_of("tS")[0].target[ROUND] > 0.3  # "ch" protrudes the lips
    for vowel in ("3:", "8", "0", "@2", "a#", "E~"):  # digits and marks that are vowels
        assert visemes_of(vowel)[0].target[JAW] >= 0.2 and visemes_of(vowel)[0].weight[JAW] == 1


@pytest.mark.parametrize("duration", [0.045, 0.07, 0.12])
def test_bilabials_close_the_mouth_even_when_short(duration: float):
    phonemes = _sequence([("a", 0.15), ("m", duration), ("a", 0.15), ("p", duration), ("A:", 0.2)])
    mouth = mouth_from_phonemes(phonemes, 40, FPS)
    for p in (phonemes[1], phonemes[3]):
        window = mouth[_frames_of(p).start - 1 : _frames_of(p).stop + 1]
        shut = window[np.argmax(window[:, PRESS])]
        assert shut[PRESS] >= 0.99 and shut[JAW] <= 0.05
        middle = (p.start + p.end) / 2
        for seen in (middle - LEAD_S, middle):  # the closure as seen ahead and as heard
            assert mouth[int(seen * FPS), PRESS] >= 0.99 and mouth[int(seen * FPS), JAW] <= 0.05
    # the vowels between them still open the jaw
    assert mouth[_frames_of(phonemes[4]), JAW].max() > 0.5


def test_silence_closes_the_mouth():
    phonemes = _sequence([("h", 0.08), ("a", 0.2), ("_:", 0.4), ("a", 0.2), ("_", 0.05)])
    mouth = mouth_from_phonemes(phonemes, 50, FPS)  # 0.4 s lead silence, then 0.7 s tail
    assert np.all(mouth[:8, JAW] < 0.05)  # before speech
    pause = phonemes[2]
    inner = slice(int((pause.start + 0.08) * FPS), int((pause.end - 0.1) * FPS))  # ~2 frames of anticipation
    assert np.all(mouth[inner, JAW] < 0.05)
    assert np.all(mouth[-12:, JAW] < 0.05)  # after speech


def test_rounded_and_spread_vowels_differ():
    rounded = mouth_from_phonemes(_sequence([("s", 0.1), ("u:", 0.3), ("_", 0.3)]), 30, FPS)
    spread = mouth_from_phonemes(_sequence([("s", 0.1), ("i:", 0.3), ("_", 0.3)]), 30, FPS)
    vowel = slice(14, 20)
    assert rounded[vowel, ROUND].mean() > spread[vowel, ROUND].mean() + 0.6
    assert rounded[vowel, WIDTH].mean() < spread[vowel, WIDTH].mean() - 0.8
    # rounding is anticipated: it starts during the /s/ before the /u/
    assert rounded[12, ROUND] > 0.3 > spread[12, ROUND]


@pytest.mark.espeak
def test_real_speech_in_many_languages_maps_to_valid_mouths():
    texts = {"en-us": "Bob bought a bag of purple plums.", "de": "Schöne Grüße aus München.",
             "fr": "Un bon vin blanc, le cœur.", "pl": "Dzień dobry, szczęście.",
             "tr": "Öğrenci ılık süt içti.", "sv": "Sju sjösjuka sjömän."}
    for voice, text in texts.items():
        synth = synthesize(text, voice=voice)
        frames = int(np.ceil(synth.duration * FPS))
        mouth = mouth_from_phonemes(synth.phonemes, frames, FPS)
        assert np.isfinite(mouth).all() and mouth[:, JAW].min() >= 0 and mouth[:, JAW].max() <= 1
        for p in synth.phonemes:
            if visemes_of(p.symbol)[0].closes_lips:
                near = mouth[max(0, _frames_of(p).start - 1) : _frames_of(p).stop + 1]
                assert near[:, PRESS].max() >= 0.99, (voice, p)


def test_energy_fallback_opens_with_voice_only():
    energy = np.array([-90.0] * 10 + [-20.0] * 10 + [-90.0] * 10)
    voiced = energy > -50
    mouth = mouth_from_energy(energy, voiced)
    assert mouth[12:18, JAW].min() > 0.3
    assert np.all(mouth[:8, JAW] == 0) and np.all(mouth[22:, JAW] == 0)
