"""Prompts the capture page shows at random moments, which the checks then look for.

    new_prompt_schedule(rng, duration_seconds)
      -> "turn your head to the left" and "... to the right" (random order) while the statement
         is read, each at a random moment with a window in which the turn must happen;
         "read the words now" later, at a random moment, the phrase appearing only then

A pre-recorded clip cannot know when (or in which order) the prompts come. The windows are
where the checks look: a head turn must peak inside its window, the phrase words must be
spoken inside theirs. The page reports when it really showed each prompt (``shown_at``); the
checks use those times, shifted windows included, when given.

Directions are the subject's own: "left" is the subject's left, which in a camera recording
(not mirrored, as ``MediaRecorder`` stores it) turns the face towards the image's right, i.e.
a positive yaw in ``model.face.landmarks`` terms (``expected_yaw_sign``).
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass, replace
from typing import Any

from policy.errors import ChallengeInvalid

SCHEDULE_VERSION = 1
MIN_DURATION, MAX_DURATION = 6.0, 120.0


class PromptKind(enum.StrEnum):
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    READ_WORDS = "read_words"


PROMPT_TEXT = {
    PromptKind.TURN_LEFT: "Turn your head to the left, then look back at the camera",
    PromptKind.TURN_RIGHT: "Turn your head to the right, then look back at the camera",
    PromptKind.READ_WORDS: "Read the words now",
}


@dataclass(frozen=True)
class Prompt:
    """One prompt: shown ``at_seconds`` after recording starts; acted on within
    ``window_seconds`` of being shown."""

    id: str
    kind: PromptKind
    text: str
    at_seconds: float
    window_seconds: float

    @property
    def window(self) -> tuple[float, float]:
        return self.at_seconds, self.at_seconds + self.window_seconds

    @property
    def expected_yaw_sign(self) -> int:
        """+1 (face towards the image's right) for the subject's left; 0 for no turn."""
        return {PromptKind.TURN_LEFT: 1, PromptKind.TURN_RIGHT: -1}.get(self.kind, 0)


@dataclass(frozen=True)
class PromptSchedule:
    duration_seconds: float
    prompts: tuple[Prompt, ...]
    version: int = SCHEDULE_VERSION

    def of_kind(self, kind: PromptKind) -> tuple[Prompt, ...]:
        return tuple(p for p in self.prompts if p.kind == kind)

    def as_shown(self, shown_at: dict[str, float] | None) -> PromptSchedule:
        """The schedule with each prompt moved to when the page reports showing it."""
        if not shown_at:
            return self
        moved = tuple(replace(p, at_seconds=float(shown_at[p.id]))
                      if p.id in shown_at and math.isfinite(shown_at[p.id]) else p
                      for p in self.prompts)
        return replace(self, prompts=moved)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "duration_seconds": self.duration_seconds,
                "prompts": [{"id": p.id, "kind": p.kind.value, "text": p.text,
                             "at_seconds": p.at_seconds, "window_seconds": p.window_seconds}
                            for p in self.prompts]}

    @classmethod
    def from_json(cls, doc: Any) -> PromptSchedule:
        try:
            if doc["version"] != SCHEDULE_VERSION:
                raise ChallengeInvalid(f"schedule version {doc['version']!r} is not "
                                       f"{SCHEDULE_VERSION}", field="version")
            prompts = tuple(Prompt(str(p["id"]), PromptKind(p["kind"]), str(p["text"]),
                                   float(p["at_seconds"]), float(p["window_seconds"]))
                            for p in doc["prompts"])
            schedule = cls(float(doc["duration_seconds"]), prompts)
        except (KeyError, TypeError, ValueError) as exc:
            raise ChallengeInvalid(f"the stored prompt schedule is malformed: {exc!r}") from None
        _check(schedule)
        return schedule


def new_prompt_schedule(rng: random.Random, duration_seconds: float) -> PromptSchedule:
    """Two head turns (random order) in the first half, "read the words now" at 50-62 % of the
    capture, its window running to 0.3 s before the end (at most 8 s)."""
    d = float(duration_seconds)
    if not MIN_DURATION <= d <= MAX_DURATION:
        raise ChallengeInvalid(f"a capture lasts {MIN_DURATION:g}-{MAX_DURATION:g} s; got {d}",
                               field="duration_seconds", value=d)
    turn_window = min(max(0.16 * d, 1.6), 4.0)
    kinds = [PromptKind.TURN_LEFT, PromptKind.TURN_RIGHT]
    rng.shuffle(kinds)
    first = rng.uniform(0.08, 0.16) * d
    second = first + turn_window + rng.uniform(0.02, 0.10) * d
    read_at = max(rng.uniform(0.50, 0.62) * d, second + turn_window)
    read_window = min(d - 0.3 - read_at, 8.0)
    prompts = (
        Prompt("p1", kinds[0], PROMPT_TEXT[kinds[0]], round(first, 2), round(turn_window, 2)),
        Prompt("p2", kinds[1], PROMPT_TEXT[kinds[1]], round(second, 2), round(turn_window, 2)),
        Prompt("p3", PromptKind.READ_WORDS, PROMPT_TEXT[PromptKind.READ_WORDS],
               round(read_at, 2), round(read_window, 2)),
    )
    schedule = PromptSchedule(d, prompts)
    _check(schedule)
    return schedule


def capture_seconds(statement_seconds: float, phrase_words: int) -> float:
    """A capture long enough that "read the words now" (at >= 50 %) comes after a slow reader
    has finished the statement, with time left to read the phrase."""
    needed = max(statement_seconds / 0.5, statement_seconds + 1.0 + 0.8 * phrase_words)
    return round(min(max(needed + 1.0, MIN_DURATION), MAX_DURATION), 1)


def _check(schedule: PromptSchedule) -> None:
    d = schedule.duration_seconds
    if not (math.isfinite(d) and MIN_DURATION <= d <= MAX_DURATION):
        raise ChallengeInvalid(f"schedule duration {d} is out of range", field="duration_seconds")
    ids = [p.id for p in schedule.prompts]
    if len(set(ids)) != len(ids):
        raise ChallengeInvalid("prompt ids repeat", field="prompts")
    for p in schedule.prompts:
        if not (math.isfinite(p.at_seconds) and 0 <= p.at_seconds <= d
                and math.isfinite(p.window_seconds) and 0 < p.window_seconds <= d):
            raise ChallengeInvalid(f"prompt {p.id} lies outside the capture", field="prompts",
                                   prompt_id=p.id)
    if len(schedule.of_kind(PromptKind.READ_WORDS)) != 1:
        raise ChallengeInvalid("a schedule has exactly one read-the-words prompt",
                               field="prompts")
