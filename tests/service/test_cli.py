"""``likeness demo`` as an operator runs it: figures printed, contact sheet written, precise
errors for bad input."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from service.cli import main
from service.media.audio import load_audio

SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory) -> Path:
    samples, rate = load_audio(SAMPLES / "speech.wav")
    path = tmp_path_factory.mktemp("audio") / "short.wav"
    pcm = (samples[: int(2.5 * rate)] * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


@pytest.mark.slow
def test_demo_writes_a_contact_sheet_and_prints_figures(tmp_path, short_speech):
    result = CliRunner().invoke(
        main, ["demo", "--audio", str(short_speech), "--out", str(tmp_path), "--steps", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "lip_sync_r" in result.output and "generate_fps" in result.output
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["frames"] == 63  # 2.5 s at 25 fps, rounded up
    assert (tmp_path / "contact_sheet.png").stat().st_size > 10_000


def test_a_portrait_without_a_face_is_a_precise_error(tmp_path, short_speech):
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (300, 300), (120, 130, 140)).save(blank)
    result = CliRunner().invoke(
        main, ["demo", "--portrait", str(blank), "--audio", str(short_speech), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "error [no_face]" in result.output


def test_an_out_of_range_control_is_a_precise_error(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--distance", "5", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "error [control_invalid]" in result.output and "distance" in result.output
