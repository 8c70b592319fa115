"""Declared transcripts: normalised and hashed at submission, checked against real espeak-ng
speech by forced alignment (match, mismatch, a language the aligner cannot check), and held
for an officer when the language is one it cannot check (PostgreSQL and SQLite)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Job, JobState, OutboxEntry
from service.domain.transcripts import (
    ALIGNED_LANGUAGES,
    MAX_TRANSCRIPT_CHARS,
    TRANSCRIPT_REJECTED,
    TranscriptCheck,
    approve_transcript,
    check_spoken,
    declare_transcript,
    refuse_mismatch,
    reject_transcript,
)
from service.errors import RequestInvalid, StateConflict, TranscriptMismatch
from service.jobs import submit_job
from service.storage import LocalBlobStore
from tests.model.audio.conftest import espeak
from tests.service.jobs.conftest import seed_world, speech_wav
from tests.service.jobs.gates import consent_table_gate
from tests.service.revocation.conftest import OFFICER, make_scene

SAID = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def fox() -> np.ndarray:
    """espeak-ng reading SAID (16 kHz float32), in a voice the model never trained on."""
    return espeak(SAID, voice="en-us+m3")


def test_submission_agrees_with_the_aligner_module() -> None:
    """Submission does not import the aligner; what it mirrors must stay equal to it."""
    from policy.consent.evidence import transcript, transcript_sha256

    for text in (SAID, "  Ünïcode\u0301 and\ttabs  ", "x" * 5000):
        assert declare_transcript(text).sha256 == transcript_sha256(text)
    assert MAX_TRANSCRIPT_CHARS == transcript.MAX_TRANSCRIPT_CHARS
    assert ALIGNED_LANGUAGES == transcript.SUPPORTED_LANGUAGES


def test_declared_text_is_normalised_and_hashed() -> None:
    declared = declare_transcript("  The quick\u00a0brown   fox\n jumps over the lazy dog. ",
                                  "EN-us")
    assert declared.text == SAID and declared.language == "en-US"
    assert declared.sha256 == hashlib.sha256(SAID.encode()).hexdigest() and declared.aligned
    assert declare_transcript(SAID, "fr").aligned is False


@pytest.mark.parametrize(("text", "language", "field"), [
    ("", "en", "transcript"), ("   ", "en", "transcript"), ("x" * 5001, "en", "transcript"),
    ("bad\x00byte", "en", "transcript"), (None, "en", "transcript"),
    (SAID, "english", "language"), (SAID, "", "language"), (SAID, None, "language"),
])
def test_malformed_declarations_are_refused(text, language, field) -> None:
    with pytest.raises(RequestInvalid) as refused:
        declare_transcript(text, language)
    assert refused.value.context["field"] == field


@pytest.mark.espeak
def test_real_speech_matches_its_transcript_and_not_another(fox: np.ndarray) -> None:
    matched = check_spoken(fox, 16_000, SAID, "en")
    assert matched.matched and matched.score is not None
    refuse_mismatch(matched, "0" * 64)  # no error
    other = check_spoken(fox, 16_000, "Please send the payment to my new account now.", "en")
    assert not other.matched and other.reason
    with pytest.raises(TranscriptMismatch) as refused:
        refuse_mismatch(other, "ab" * 32)
    assert refused.value.code == "transcript_mismatch"
    assert refused.value.context["transcript_sha256"] == "ab" * 32


@pytest.mark.espeak
def test_a_language_the_aligner_has_no_model_for_is_not_matched(fox: np.ndarray) -> None:
    french = espeak("Le renard brun saute par-dessus le chien paresseux.", voice="fr")
    result = check_spoken(french, 16_000, "Le renard brun saute par-dessus le chien.", "fr")
    assert result.unsupported and not result.matched and "officer" in result.reason


def _submit(session: Session, world, language: str):
    return submit_job(session, OFFICER, organisation_id=world.organisation_id,
                      subject_id=world.subject_id, purpose="dubbing",
                      portrait_asset_id=world.portrait_id, audio_asset_id=world.audio_id,
                      controls={"steps": 2}, idempotency_key=None, gate=consent_table_gate,
                      transcript="Apportez-moi la carte bleue.", language=language)


def test_an_uncheckable_language_is_held_for_an_officer(db_session: Session, tmp_path,
                                                        store, obama) -> None:
    world = seed_world(db_session, LocalBlobStore(tmp_path / "b"), speech_wav(1.7))
    officer = make_scene(db_session, store, obama).officer_id
    held = _submit(db_session, world, "fr")
    assert held.outbox_entry_id is None
    job = held.job
    assert job.state == JobState.AWAITING_REVIEW
    assert job.transcript_check == TranscriptCheck.REVIEW_REQUIRED
    assert db_session.scalar(select(func.count()).select_from(OutboxEntry).where(
        OutboxEntry.job_id == job.id)) == 0

    approved, entry_id = approve_transcript(db_session, OFFICER, job_id=job.id,
                                            officer_id=officer)
    assert approved.state == JobState.QUEUED
    assert approved.transcript_check == TranscriptCheck.OFFICER_APPROVED
    assert db_session.get(OutboxEntry, entry_id).job_id == job.id
    with pytest.raises(StateConflict):
        approve_transcript(db_session, OFFICER, job_id=job.id, officer_id=officer)

    other = _submit(db_session, world, "fr").job
    rejected = reject_transcript(db_session, OFFICER, job_id=other.id, officer_id=officer,
                                 reason="the audio says something else")
    assert (rejected.state, rejected.error_code) == (JobState.FAILED, TRANSCRIPT_REJECTED)
    assert db_session.get(Job, other.id).transcript_check == TranscriptCheck.OFFICER_REJECTED
