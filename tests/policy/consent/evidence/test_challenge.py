"""Challenges and prompt schedules: drawn at random, stored as JSON, refused when malformed."""

from __future__ import annotations

import random
from datetime import date

import pytest

from policy.consent.evidence import (
    WORD_LIST, Challenge, PromptKind, PromptSchedule, capture_seconds, date_in_words,
    new_challenge, new_prompt_schedule, tokens,
)
from policy.errors import ChallengeInvalid


def _challenge(seed: int = 1, **changes: object) -> Challenge:
    args: dict[str, object] = dict(subject_name="Ada Lovelace", partner_name="Acme Studios",
                                   purposes=("education", "internal_testing"),
                                   expires_on=date(2027, 3, 21))
    args.update(changes)
    return new_challenge(random.Random(seed), **args)  # type: ignore[arg-type]


def test_the_phrase_is_drawn_from_the_list_without_repeats() -> None:
    challenges = [_challenge(seed) for seed in range(50)]
    assert all(len(set(c.words)) == 4 and set(c.words) <= set(WORD_LIST) for c in challenges)
    assert len({c.words for c in challenges}) == 50
    assert _challenge(7).words == _challenge(7).words  # a seeded draw is reproducible
    assert len(_challenge(n_words=5).words) == 5


def test_the_script_names_everyone_and_spells_the_date() -> None:
    challenge = _challenge()
    assert challenge.statement == (
        "I, Ada Lovelace, consent to Acme Studios making videos of my likeness for education "
        "and internal testing until the twenty-first of March, twenty twenty-seven.")
    assert challenge.script.endswith(f"{challenge.phrase.capitalize()}.")
    assert tokens(challenge.statement)[-4:] == ["march", "twenty", "twenty", "seven"]
    assert challenge.statement_seconds == pytest.approx(len(tokens(challenge.statement)) / 2.0)


@pytest.mark.parametrize(("day", "words"), [
    (date(2026, 1, 1), "the first of January, twenty twenty-six"),
    (date(2030, 12, 22), "the twenty-second of December, twenty thirty"),
    (date(2009, 2, 3), "the third of February, two thousand nine"),
    (date(2041, 5, 12), "the twelfth of May, twenty forty-one"),
])
def test_dates_are_read_as_people_say_them(day: date, words: str) -> None:
    assert date_in_words(day) == words


def test_a_challenge_survives_its_json_form() -> None:
    challenge = _challenge()
    assert Challenge.from_json(challenge.to_json()) == challenge


@pytest.mark.parametrize("doc", [
    {}, {"version": 2}, "not a dict",
    {"version": 1, "subject_name": "A", "partner_name": "B", "purposes": ["x"],
     "expires_on": "2027-02-30", "words": ["apple", "river", "candle"]},
    {"version": 1, "subject_name": "A", "partner_name": "B", "purposes": ["x"],
     "expires_on": "2027-02-01", "words": ["apple", "apple", "candle"]},
    {"version": 1, "subject_name": "A", "partner_name": "B", "purposes": ["x"],
     "expires_on": "2027-02-01", "words": ["apple", "river", "banana"]},
])
def test_a_malformed_stored_challenge_is_refused(doc: object) -> None:
    with pytest.raises(ChallengeInvalid):
        Challenge.from_json(doc)


@pytest.mark.parametrize("changes", [
    {"subject_name": " "}, {"partner_name": "x" * 121}, {"purposes": ()},
    {"expires_on": date(2101, 1, 1)}, {"n_words": 2}, {"n_words": 7},
])
def test_out_of_range_arguments_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ChallengeInvalid):
        _challenge(**changes)


def test_schedules_are_random_and_keep_their_shape() -> None:
    schedules = [new_prompt_schedule(random.Random(seed), 20.0) for seed in range(30)]
    for schedule in schedules:
        turns = [p for p in schedule.prompts if p.kind != PromptKind.READ_WORDS]
        read = schedule.of_kind(PromptKind.READ_WORDS)[0]
        assert {p.kind for p in turns} == {PromptKind.TURN_LEFT, PromptKind.TURN_RIGHT}
        assert turns[0].window[1] <= turns[1].at_seconds  # one turn at a time
        assert read.at_seconds >= turns[1].window[1] and read.at_seconds >= 10.0
        assert read.window[1] <= 20.0
        assert PromptSchedule.from_json(schedule.to_json()) == schedule
    assert len({tuple(p.at_seconds for p in s.prompts) for s in schedules}) == 30
    assert {s.prompts[0].kind for s in schedules} == {PromptKind.TURN_LEFT, PromptKind.TURN_RIGHT}


def test_prompts_move_to_when_the_page_showed_them() -> None:
    schedule = new_prompt_schedule(random.Random(3), 12.0)
    shown = schedule.as_shown({"p1": 2.5, "p3": float("nan")})
    assert shown.prompts[0].at_seconds == 2.5
    assert shown.prompts[1:] == schedule.prompts[1:]
    assert schedule.as_shown(None) is schedule


def test_left_is_the_subjects_left() -> None:
    schedule = new_prompt_schedule(random.Random(4), 12.0)
    signs = {p.kind: p.expected_yaw_sign for p in schedule.prompts}
    assert signs == {PromptKind.TURN_LEFT: 1, PromptKind.TURN_RIGHT: -1,
                     PromptKind.READ_WORDS: 0}


@pytest.mark.parametrize("duration", [3.0, 500.0, float("nan")])
def test_absurd_capture_durations_are_refused(duration: float) -> None:
    with pytest.raises(ChallengeInvalid):
        new_prompt_schedule(random.Random(0), duration)


def test_a_malformed_stored_schedule_is_refused() -> None:
    doc = new_prompt_schedule(random.Random(0), 12.0).to_json()
    doc["prompts"][2]["kind"] = "turn_left"  # no read-the-words prompt left
    with pytest.raises(ChallengeInvalid):
        PromptSchedule.from_json(doc)
    doc["prompts"][2]["kind"] = "wave"
    with pytest.raises(ChallengeInvalid):
        PromptSchedule.from_json(doc)


def test_the_capture_leaves_time_for_a_slow_reader() -> None:
    challenge = _challenge()
    seconds = capture_seconds(challenge.statement_seconds, len(challenge.words))
    assert 0.5 * seconds >= challenge.statement_seconds
