import numpy as np
import pytest

from training.espeak import EspeakError, list_voices, synthesize

pytestmark = pytest.mark.espeak


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


def test_phoneme_times_match_the_audio():
    synth = synthesize("Hello world, my name is Bob. Please be quiet!", voice="en-us+f4")
    sr, x = synth.sample_rate, synth.samples
    assert x.dtype == np.float32 and synth.duration > 1.5
    loud = np.flatnonzero(np.abs(x) > 0.02)
    first, last = synth.phonemes[0], synth.phonemes[-1]
    assert abs(first.start - loud[0] / sr) < 0.03  # speech starts with the first phoneme
    assert last.end == pytest.approx(synth.duration)
    speech = [p for p in synth.phonemes if not p.symbol.startswith("_")]
    assert speech[-1].end >= loud[-1] / sr - 0.03  # the last sound lies in a phoneme
    for a, b in zip(synth.phonemes, synth.phonemes[1:]):
        assert a.start < a.end == b.start
    # vowels are loud, the pause after "world," is quiet
    vowels = [p for p in speech if p.symbol in ("oU", "3:", "aI", "eI", "i:")]
    pause = next(p for p in synth.phonemes if p.symbol == "_:")
    quiet = _rms(x[int((pause.start + 0.03) * sr) : int(pause.end * sr)])
    assert min(_rms(x[int(v.start * sr) : int(v.end * sr)]) for v in vowels) > 10 * quiet


def test_words_and_rate():
    slow = synthesize("Please bring the blue book back.", rate_wpm=120)
    fast = synthesize("Please bring the blue book back.", rate_wpm=240)
    assert [w.text for w in slow.words] == ["Please", "bring", "the", "blue", "book", "back"]
    assert fast.duration < 0.7 * slow.duration
    assert [p.symbol for p in fast.phonemes][:3] == [p.symbol for p in slow.phonemes][:3]


def test_other_languages_and_variants_speak():
    for voice in ("de+m6", "fr+f2", "nl", "pl+m3", "tr+f4"):
        synth = synthesize("Guten Tag, bonjour, dzień dobry.", voice=voice)
        assert len(synth.phonemes) > 10 and synth.duration > 1.0


def test_bad_requests_raise():
    with pytest.raises(EspeakError):
        synthesize("hello", voice="xx-none")
    with pytest.raises(EspeakError):
        synthesize("hello", voice="en-us+nosuchvariant")  # espeak itself would ignore it
    with pytest.raises(EspeakError):
        synthesize("   ")
    with pytest.raises(EspeakError):
        synthesize("hello", rate_wpm=20)


def test_list_voices_has_languages_and_variants():
    voices = list_voices()
    assert {"en-us", "de", "fr", "nl"} <= voices.language_codes()
    assert {"f4", "m6", "m3"} <= voices.variant_names()
