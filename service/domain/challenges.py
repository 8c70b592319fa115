"""The challenge of a consent request, as the service stores and serves it.

``policy.consent.evidence`` draws the random phrase (``new_challenge``) and the prompt schedule
(``new_prompt_schedule``, sized by ``capture_seconds``); this module draws them from the
system's CSPRNG, keeps their stored forms (``to_json``), tells the capture page what to show
when, and checks the timeline the page reports back against the schedule the server kept.

The page shows the consent statement for the whole capture; the random words appear only with
the "read the words now" prompt, so they cannot be rehearsed into a clip before it.

Reported timeline (the page's, validated here)::

    {"prompts": [{"id": "p1", "shown_at": 7.43}, ...], "mime_type": "video/webm;...",
     "recorded_seconds": 20.1}
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from policy.consent.evidence.challenge import Challenge, new_challenge
from policy.consent.evidence.schedule import (
    PromptKind,
    PromptSchedule,
    capture_seconds,
    new_prompt_schedule,
)
from service.errors import RequestInvalid

# The page's clock and the recorder's may differ a little; a prompt reported later than the
# whole recording plus this is not believed.
TIMELINE_SLACK_SECONDS = 5.0
MAX_MIME_CHARS = 100


@dataclass(frozen=True)
class IssuedChallenge:
    script: str  # everything the subject says: the statement, then the phrase
    phrase: str  # the code words
    document: dict[str, Any]  # ``Challenge.to_json()``
    schedule: dict[str, Any]  # ``PromptSchedule.to_json()`` (``duration_seconds`` included)
    expires_at: datetime


@dataclass(frozen=True)
class PagePrompt:
    id: str
    text: str
    at_seconds: float  # after recording starts
    show_seconds: float  # how long it stays on screen: the window the checks look in


def issue_challenge(*, subject_name: str, partner_name: str, purposes: list[str],
                    consent_expires_at: datetime, now: datetime,
                    valid_seconds: float) -> IssuedChallenge:
    """A fresh phrase and schedule (``ChallengeInvalid`` for a name or date it cannot say)."""
    rng = secrets.SystemRandom()
    challenge = new_challenge(rng, subject_name=subject_name, partner_name=partner_name,
                              purposes=tuple(purposes),
                              expires_on=consent_expires_at.date())
    schedule = new_prompt_schedule(rng, capture_seconds(challenge.statement_seconds,
                                                        len(challenge.words)))
    return IssuedChallenge(challenge.script, challenge.phrase, challenge.to_json(),
                           schedule.to_json(), now + timedelta(seconds=valid_seconds))


def statement_of(document: dict[str, Any]) -> str:
    """What the capture page shows throughout (the phrase comes with its prompt)."""
    return Challenge.from_json(document).statement


def page_prompts(schedule_doc: dict[str, Any],
                 challenge_doc: dict[str, Any]) -> list[PagePrompt]:
    """What the capture page shows, and when; the read prompt carries the phrase."""
    phrase = Challenge.from_json(challenge_doc).phrase
    return [PagePrompt(p.id, f"{p.text}: {phrase}" if p.kind == PromptKind.READ_WORDS
                       else p.text, p.at_seconds, p.window_seconds)
            for p in PromptSchedule.from_json(schedule_doc).prompts]


def parse_timeline(text: str) -> dict[str, Any]:
    """The page's report as JSON (a malformed one is ``RequestInvalid``)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise RequestInvalid("timeline must be a JSON object", field="timeline") from None
    if not isinstance(value, dict):
        raise RequestInvalid("timeline must be a JSON object", field="timeline")
    return value


def check_timeline(schedule_doc: dict[str, Any],
                   timeline: dict[str, Any] | None) -> dict[str, Any]:
    """The timeline reduced to what the checks use: each scheduled prompt at most once, at a
    finite time within the recording. Anything else is ``RequestInvalid`` naming it."""
    if timeline is None:
        raise RequestInvalid("the capture page must report its prompt timeline",
                             field="timeline")
    schedule = PromptSchedule.from_json(schedule_doc)
    known = {p.id for p in schedule.prompts}
    limit = schedule.duration_seconds + TIMELINE_SLACK_SECONDS
    shown: dict[str, float] = {}
    for item in _items(timeline.get("prompts", [])):
        prompt_id, at = item.get("id"), item.get("shown_at")
        if prompt_id not in known or prompt_id in shown:
            raise RequestInvalid(f"timeline names prompt {prompt_id!r}, which is not scheduled "
                                 "or appears twice", field="timeline", prompt_id=str(prompt_id))
        if not isinstance(at, (int, float)) or isinstance(at, bool) \
                or not math.isfinite(at) or not 0 <= at <= limit:
            raise RequestInvalid(f"prompt {prompt_id!r} was reported at {at!r}: not a time "
                                 f"within the recording (0-{limit:g} s)", field="timeline",
                                 prompt_id=str(prompt_id))
        shown[prompt_id] = float(at)
    mime = timeline.get("mime_type")
    return {"prompts": [{"id": k, "shown_at": round(v, 3)} for k, v in shown.items()],
            "mime_type": mime[:MAX_MIME_CHARS] if isinstance(mime, str) else None}


def shown_at(timeline: dict[str, Any] | None) -> dict[str, float] | None:
    """The stored timeline as ``PromptSchedule.as_shown`` takes it."""
    if not timeline:
        return None
    return {str(p["id"]): float(p["shown_at"]) for p in timeline.get("prompts", [])}


def _items(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RequestInvalid("timeline.prompts must be a list of {id, shown_at}",
                             field="timeline")
    return value
