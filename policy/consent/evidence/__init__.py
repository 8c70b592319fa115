"""Consent evidence: the challenge a subject reads on camera, and the checks of the recording.

    challenge.py    ``Challenge`` (statement + random phrase from ``words.WORD_LIST``),
                    ``new_challenge``
    schedule.py     ``PromptSchedule`` of timed prompts (head turns, "read the words now"),
                    ``new_prompt_schedule``, ``capture_seconds``
    types.py        ``EvidenceClip`` (decoded frames + audio), ``CheckResult``,
                    ``EvidenceReport``, ``Decision``
    aligner.py      pocketsphinx as forced aligner and small-grammar recogniser
    speech.py       was the script spoken? (``find_phrase``)
    faces.py        faces tracked, counted and described over the clip (``scan_faces``)
    checks.py       spoken_script, face_match, liveness, prompts
    screening.py    synthetic screening: our watermark, a C2PA AI-generation manifest
    assess.py       ``assess`` -> ``EvidenceReport`` (pass / review / fail with reasons)
    transcript.py   a job's declared transcript against its audio (``check_transcript``)

Pure: decoded inputs in, typed results out; decoding files is ``service.media.evidence``.
Malformed inputs raise ``EvidenceInvalid`` / ``ChallengeInvalid`` / ``TranscriptInvalid``.
"""

from policy.consent.evidence.assess import assess, decide, versions
from policy.consent.evidence.challenge import Challenge, date_in_words, new_challenge, tokens
from policy.consent.evidence.schedule import (
    Prompt, PromptKind, PromptSchedule, capture_seconds, new_prompt_schedule,
)
from policy.consent.evidence.screening import ScreeningInputs, screening_inputs, synthetic_check
from policy.consent.evidence.thresholds import CHECKS_VERSION, EvidenceThresholds
from policy.consent.evidence.transcript import (
    TranscriptCheck, check_transcript, normalise_transcript, transcript_sha256,
)
from policy.consent.evidence.types import (
    CheckResult, Decision, EvidenceClip, EvidenceReport, Reason,
)
from policy.consent.evidence.words import WORD_LIST

__all__ = [
    "CHECKS_VERSION", "WORD_LIST", "Challenge", "CheckResult", "Decision", "EvidenceClip",
    "EvidenceReport", "EvidenceThresholds", "Prompt", "PromptKind", "PromptSchedule", "Reason",
    "ScreeningInputs", "TranscriptCheck", "assess", "capture_seconds", "check_transcript",
    "date_in_words", "decide", "new_challenge", "new_prompt_schedule", "normalise_transcript",
    "screening_inputs", "synthetic_check", "tokens", "transcript_sha256", "versions",
]
