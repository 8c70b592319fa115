"""The challenge a subject reads on camera: a consent statement and a fresh random phrase.

    new_challenge(rng, subject_name=..., partner_name=..., purposes=..., expires_on=...)
      -> Challenge: the statement ("I, Ada Lovelace, consent to Acme Studios making videos of my
         likeness for education and dubbing until the first of March, twenty twenty-seven.")
         and ``n_words`` words drawn without repetition from ``WORD_LIST``

The date is written in words so that what the subject says is exactly what the aligner is
given. The phrase's validity (30 minutes, usable once) is the service's: a challenge holds no
clock. ``to_json`` / ``from_json`` give the stored form; ``script_tokens`` the words the spoken
check aligns, in reading order.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from policy.consent.evidence.words import WORD_LIST
from policy.errors import ChallengeInvalid

CHALLENGE_VERSION = 1
MIN_WORDS, MAX_WORDS = 3, 6
MAX_NAME_CHARS = 120
# Reading speed used to size the capture: slow, careful reading of an unfamiliar text.
READING_WORDS_PER_SECOND = 2.0

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
            "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
_MONTHS = ("January February March April May June July August September October November "
           "December").split()
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Challenge:
    """What one consent request asks the subject to say.

    purposes: the requested purposes as the service names them (``internal_testing`` is read
    "internal testing"). words: the phrase, lower case, each from ``WORD_LIST``.
    """

    subject_name: str
    partner_name: str
    purposes: tuple[str, ...]
    expires_on: date
    words: tuple[str, ...]
    version: int = CHALLENGE_VERSION

    def __post_init__(self) -> None:
        for field_name in ("subject_name", "partner_name"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
                raise ChallengeInvalid(f"{field_name} must be 1-{MAX_NAME_CHARS} characters",
                                       field=field_name)
        if not self.purposes or not all(isinstance(p, str) and p.strip() for p in self.purposes):
            raise ChallengeInvalid("a challenge needs at least one purpose", field="purposes")
        if not isinstance(self.expires_on, date) or not 2000 <= self.expires_on.year <= 2099:
            raise ChallengeInvalid("expires_on must be a date in 2000-2099", field="expires_on")
        if not MIN_WORDS <= len(self.words) <= MAX_WORDS or len(set(self.words)) != len(self.words):
            raise ChallengeInvalid(f"the phrase needs {MIN_WORDS}-{MAX_WORDS} distinct words",
                                   field="words", count=len(self.words))
        unknown = [w for w in self.words if w not in WORD_LIST]
        if unknown:
            raise ChallengeInvalid(f"phrase words not in the word list: {unknown}",
                                   field="words", unknown=unknown)

    @property
    def phrase(self) -> str:
        """The random words, as shown at the "read the words now" prompt."""
        return " ".join(self.words)

    @property
    def statement(self) -> str:
        """The consent statement shown for the whole capture."""
        purposes = _join([p.replace("_", " ") for p in self.purposes])
        return (f"I, {self.subject_name.strip()}, consent to {self.partner_name.strip()} making "
                f"videos of my likeness for {purposes} until {date_in_words(self.expires_on)}.")

    @property
    def script(self) -> str:
        """Everything the subject says, in order: the statement, then the phrase."""
        return f"{self.statement} {self.phrase.capitalize()}."

    @property
    def statement_seconds(self) -> float:
        """How long a slow reader takes for the statement (sizes the capture)."""
        return len(tokens(self.statement)) / READING_WORDS_PER_SECOND

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "subject_name": self.subject_name,
                "partner_name": self.partner_name, "purposes": list(self.purposes),
                "expires_on": self.expires_on.isoformat(), "words": list(self.words)}

    @classmethod
    def from_json(cls, doc: Any) -> Challenge:
        """The stored form back; anything malformed is ``ChallengeInvalid``."""
        try:
            if doc["version"] != CHALLENGE_VERSION:
                raise ChallengeInvalid(f"challenge version {doc['version']!r} is not "
                                       f"{CHALLENGE_VERSION}", field="version")
            return cls(str(doc["subject_name"]), str(doc["partner_name"]),
                       tuple(str(p) for p in doc["purposes"]),
                       date.fromisoformat(doc["expires_on"]),
                       tuple(str(w) for w in doc["words"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ChallengeInvalid(f"the stored challenge is malformed: {exc!r}") from None


def new_challenge(rng: random.Random, *, subject_name: str, partner_name: str,
                  purposes: tuple[str, ...] | list[str], expires_on: date,
                  n_words: int = 4) -> Challenge:
    """Draw a phrase of ``n_words`` distinct words. Production passes ``secrets.SystemRandom()``
    (a ``random.Random``); tests a seeded ``random.Random``."""
    if not isinstance(n_words, int) or not MIN_WORDS <= n_words <= MAX_WORDS:
        raise ChallengeInvalid(f"n_words must be {MIN_WORDS}-{MAX_WORDS}", field="n_words",
                               value=n_words)
    words = tuple(rng.sample(WORD_LIST, n_words))
    return Challenge(subject_name, partner_name, tuple(purposes), expires_on, words)


def tokens(text: str) -> list[str]:
    """Lower-case words of ``text`` as an aligner wants them ("twenty-seven" -> two words)."""
    return _TOKEN.findall(text.lower().replace("-", " "))


def number_in_words(n: int) -> str:
    """0..99 in words ("twenty-seven")."""
    if not 0 <= n <= 99:
        raise ValueError(f"number_in_words handles 0..99, got {n}")
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def ordinal_in_words(n: int) -> str:
    """1..31 as an ordinal ("twenty-first")."""
    words = number_in_words(n)
    head, _, last = words.rpartition("-")
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}-{last}" if head else last


def year_in_words(year: int) -> str:
    """2000..2099 as people say it: "two thousand nine", "twenty twenty-seven"."""
    century, rest = divmod(year, 100)
    if century != 20:
        raise ValueError(f"year_in_words handles 2000-2099, got {year}")
    if rest < 10:
        return "two thousand" + (f" {_ONES[rest]}" if rest else "")
    return f"twenty {number_in_words(rest)}"


def date_in_words(day: date) -> str:
    """"the first of March, twenty twenty-seven"."""
    return f"the {ordinal_in_words(day.day)} of {_MONTHS[day.month - 1]}, {year_in_words(day.year)}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
