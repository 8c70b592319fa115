"""``likeness quickstart``: the whole gated path on the embedded default (SQLite database and
broker, no Redis), over real HTTP and a real in-process Celery worker."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from service.audit.sequencer import sequence_pending
from service.db import make_engine
from service.db.audit import verify_audit_chain
from service.db.engine import make_session_factory
from service.db.models import (
    AuditEventRow,
    Consent,
    ConsentBasis,
    ConsentStatus,
    NonlivingCategory,
)
from service.demo import SAMPLE_PORTRAIT, SAMPLE_SPEECH
from service.media.audio import load_audio
from service.quickstart import run_quickstart, sandbox_settings


@pytest.fixture()
def short_speech(tmp_path) -> Path:
    samples, rate = load_audio(SAMPLE_SPEECH)
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples[: int(2.0 * rate)] * 32767).astype(np.int16).tobytes())
    return path


@pytest.mark.slow
def test_quickstart_passes_the_gate_and_releases_a_verified_video(tmp_path, short_speech):
    lines: list[str] = []
    result = run_quickstart(tmp_path / "qs", SAMPLE_PORTRAIT, short_speech, {"steps": 2},
                            say=lines.append, transcript="Please bring me the blue map.")

    assert result.verdict_code == "signed_intact"
    assert result.video.is_file() and result.video.stat().st_size > 10_000
    assert any("granted consent" in line and "non-living path" in line for line in lines)

    settings = sandbox_settings(tmp_path / "qs")
    engine = make_engine(settings.database_url)
    try:
        sequence_pending(engine)
        with make_session_factory(engine)() as session:
            consent = session.scalars(select(Consent)).one()
            # The sample subject went through the officer-only path, recorded as such.
            assert consent.status == ConsentStatus.APPROVED
            assert consent.basis == ConsentBasis.NONLIVING
            assert consent.nonliving_category == NonlivingCategory.HISTORICAL_PHOTO
            assert consent.reviewer_id is not None and "public domain" in consent.justification
            actions = set(session.scalars(select(AuditEventRow.action)))
            assert verify_audit_chain(session).ok
    finally:
        engine.dispose()
    assert {"compliance:consent:grant_nonliving", "job:job:submit",
            "job:job:succeed"} <= actions, actions
    assert "compliance:consent:approve" not in actions
