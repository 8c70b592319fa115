import numpy as np
import pytest

from training.texts import ENGLISH, LANGUAGES, make_text, pseudo_word, sentence


def test_same_rng_same_text():
    a = [make_text(lang, 12, np.random.default_rng(5)) for lang in LANGUAGES]
    b = [make_text(lang, 12, np.random.default_rng(5)) for lang in LANGUAGES]
    assert a == b


def test_every_language_gives_sentences_of_about_the_asked_length():
    rng = np.random.default_rng(0)
    for lang in LANGUAGES:
        text = make_text(lang, 20, rng)
        assert 8 <= len(text.split()) <= 35, (lang, text)
        assert text.rstrip()[-1] in ".?!", (lang, text)


def test_sources_are_varied():
    assert len(ENGLISH) >= 100 and len(set(ENGLISH)) == len(ENGLISH)
    rng = np.random.default_rng(1)
    english = {sentence("en-us", rng) for _ in range(300)}
    assert len(english) > 150
    words = {pseudo_word("de", rng) for _ in range(200)}
    assert len(words) > 150


def test_unknown_language_is_refused():
    with pytest.raises(ValueError):
        sentence("xx", np.random.default_rng(0))
