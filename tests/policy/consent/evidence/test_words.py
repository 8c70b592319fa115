"""The phrase word list keeps the properties the spoken check relies on."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from pocketsphinx import get_model_path

from policy.consent.evidence.words import MIN_PHONE_DISTANCE, WORD_LIST


def _dictionary() -> dict[str, list[tuple[str, ...]]]:
    entries: dict[str, list[tuple[str, ...]]] = {}
    for line in Path(get_model_path("en-us/cmudict-en-us.dict")).read_text().splitlines():
        word, *phones = line.split()
        entries.setdefault(word.split("(")[0], []).append(tuple(phones))
    return entries


def _edit_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def test_words_are_lower_case_distinct_and_plenty() -> None:
    assert len(WORD_LIST) >= 100
    assert len(set(WORD_LIST)) == len(WORD_LIST)
    assert all(w.isalpha() and w.islower() for w in WORD_LIST)


def test_every_word_has_one_pronunciation_far_from_every_other() -> None:
    dictionary = _dictionary()
    missing = [w for w in WORD_LIST if len(dictionary.get(w, [])) != 1]
    assert not missing, f"not exactly one pronunciation: {missing}"
    close = [(a, b) for a, b in combinations(WORD_LIST, 2)
             if _edit_distance(dictionary[a][0], dictionary[b][0]) < MIN_PHONE_DISTANCE]
    assert not close, f"too similar: {close}"
