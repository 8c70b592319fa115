"""The inputs every submit references: a consented subject and its validated assets.

Set up over HTTP like ``likeness quickstart``: operator, officer, vetted partner and its API
key; the sample portrait registered as a subject and approved by the officer; a portrait and a
``CLIP_SECONDS`` speech clip uploaded and validated once.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from service.demo import SAMPLE_PORTRAIT, SAMPLE_SPEECH
from service.quickstart import (
    PURPOSE,
    _bootstrap,
    _grant_nonliving,
    _register_subject,
    _upload_inputs,
)
from service.settings import Settings

CLIP_SECONDS = 2.0
CLIP_TRANSCRIPT = "Please bring me the blue map."  # what the first 2 s of the sample say
CONTROLS = {"seed": 0, "steps": 4}


@dataclass(frozen=True)
class Assets:
    subject_id: str
    portrait_id: str
    audio_id: str

    def body(self) -> dict:
        return {"subject_id": self.subject_id, "purpose": PURPOSE,
                "portrait_asset_id": self.portrait_id, "audio_asset_id": self.audio_id,
                "transcript": CLIP_TRANSCRIPT, "controls": CONTROLS}


def write_clip(directory: Path) -> Path:
    """The first ``CLIP_SECONDS`` of the bundled speech, as 16-bit WAV."""
    with wave.open(str(SAMPLE_SPEECH), "rb") as source:
        params = source.getparams()
        frames = source.readframes(int(CLIP_SECONDS * params.framerate))
    clip = directory / "speech-2s.wav"
    with wave.open(str(clip), "wb") as target:
        target.setparams(params)
        target.writeframes(frames)
    return clip


def setup_subject(base_url: str, settings: Settings, clip: Path) -> tuple[str, Assets]:
    people = _bootstrap(settings)
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    with httpx.Client(base_url=base_url, timeout=120,
                      headers={"X-Api-Key": people.api_key}) as partner, \
            httpx.Client(base_url=base_url, timeout=60,
                         headers={"Authorization": f"Bearer {people.officer_token}"}) as officer:
        subject_id = _register_subject(partner, SAMPLE_PORTRAIT, lambda _line: None)
        _grant_nonliving(officer, subject_id, expires, lambda _line: None)
        portrait_id, audio_id = _upload_inputs(partner, subject_id, SAMPLE_PORTRAIT, clip)
    return people.api_key, Assets(subject_id, portrait_id, audio_id)
