"""The real-video corpus builder, on tiny videos written with PyAV from the fixture faces."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from model.audio.types import AUDIO_DIM
from model.errors import NoFaceFound
from model.evaluation.tracking import FaceTrack
from model.face.measure import FaceMeasurements, measure_face
from model.motion.space import MOTION_DIM, Field
from tests.model.evaluation.face_frames import detect_landmarks, face_frame
from training.corpus_format import Corpus
from training.video_corpus import (
    build_video_corpus,
    extract_clip_motion,
    main,
    motion_from_track,
    resample_motion,
)

RATE = 16_000


def _voice(seconds: float) -> np.ndarray:
    """A voiced-sounding signal: 140 Hz harmonics, loudness pulsing like syllables at 3 Hz."""
    t = np.arange(int(seconds * RATE)) / RATE
    syllables = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))
    return (0.2 * syllables * tone).astype(np.float32)


def write_video(
    path: Path,
    seconds: float,
    fps: int = 25,
    size: int = 320,
    audio: bool = True,
    face: bool = True,
) -> Path:
    """An H.264 (+ AAC) file of the obama fixture drifting a few pixels, or a grey card."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast"}
        sound = container.add_stream("aac", rate=RATE) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(int(seconds * fps)):
            if face:
                image = face_frame("obama", 3 * np.sin(i / 4), 2 * np.cos(i / 6), size=size)
            else:
                image = np.full((size, size, 3), 128, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        if sound is not None:
            samples = _voice(seconds)
            for start in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(
                    samples[None, start : start + 1024], format="fltp", layout="mono"
                )
                frame.sample_rate, frame.pts = RATE, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode())
    return path


def test_builds_a_corpus_with_matching_lengths_and_skips_bad_files(tmp_path: Path, caplog) -> None:
    good = write_video(tmp_path / "talk.mp4", 3.0)
    mute = write_video(tmp_path / "mute.mp4", 2.5, audio=False)
    short = write_video(tmp_path / "short.mp4", 1.0)
    empty = write_video(tmp_path / "empty.mp4", 2.5, size=96, face=False)
    with caplog.at_level(logging.WARNING, logger="training.video_corpus"):
        corpus = build_video_corpus([good, mute, short, empty], tmp_path / "corpus")
    assert len(corpus) == 1 and corpus.clips[0]["source"] == str(good)
    assert corpus.motion.shape == (75, MOTION_DIM) and corpus.audio.shape == (75, AUDIO_DIM)
    assert corpus.offsets.tolist() == [0, 75] and corpus.emotion.tolist() == [0]
    assert corpus.clips[0]["split"] in ("train", "eval")
    reasons = {Path(s["source"]).name: s["reason"] for s in corpus.settings["skipped"]}
    assert reasons["mute.mp4"] == "no audio stream"
    assert reasons["short.mp4"].startswith("too short")
    assert reasons["empty.mp4"].startswith("no_face")
    assert all(name in caplog.text for name in reasons)
    # the pulsing voice is seen as voice; a still photo has no blinks and a barely moving head
    voiced = corpus.audio[:, -1]
    assert voiced.mean() > 0.5
    assert np.abs(corpus.motion[:, Field.BLINK_LEFT]).max() < 0.2
    assert np.abs(corpus.motion[:, [Field.YAW, Field.PITCH, Field.ROLL]]).max() < 0.06
    reloaded = Corpus.load(tmp_path / "corpus")
    np.testing.assert_array_equal(reloaded.motion, corpus.motion)


def test_cli_builds_a_corpus(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 2.2, fps=30)
    result = CliRunner().invoke(main, [str(video), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "1 clips" in result.output
    corpus = Corpus.load(tmp_path / "out")
    assert len(corpus.motion) == 55  # 2.2 s of 30 fps video resampled to 25 fps


def test_clip_motion_follows_the_head_translation_and_size() -> None:
    frames = [face_frame("obama", dx, 0.0) for dx in np.linspace(-10, 10, 9)]
    motion = extract_clip_motion(frames, fps=25.0)
    tx = motion.field(Field.TX)
    iod = measure_face(detect_landmarks(frames[4], upsample=0)).interocular
    assert np.diff(tx).min() > 0
    assert tx[-1] - tx[0] == pytest.approx(20.0 / iod, rel=0.15)
    assert np.abs(motion.field(Field.SCALE)).max() < 0.02


def test_clip_without_a_face_raises() -> None:
    with pytest.raises(NoFaceFound):
        extract_clip_motion([np.full((96, 96, 3), 90, np.uint8)] * 3, fps=25.0)


def _measured(
    aperture: float = 0.0, ear: float = 0.3, width: float = 0.9, corner: float = 0.0
) -> FaceMeasurements:
    return FaceMeasurements(
        interocular=80.0, aperture=aperture, mouth_width=width, lip_thickness=0.2,
        lip_corner=corner, ear_left=ear, ear_right=0.3, brow_height=0.25,
        pose=np.zeros(3, np.float32), centre=np.array([256.0, 256.0], np.float32),
        nose_length=0.8,
    )  # fmt: skip


def test_calibration_maps_measurements_to_motion_units() -> None:
    ms = [_measured() for _ in range(10)]
    ms[2] = _measured(aperture=0.6)  # a wide "ah"
    ms[3] = _measured(aperture=0.3)
    ms[5] = _measured(ear=0.06)  # the subject's left eye shut
    ms[6] = None  # face lost for a frame
    ms[7] = _measured(width=1.15, corner=0.12)  # a smile
    landmarks = np.zeros((10, 68, 2), np.float32)
    landmarks[6] = np.nan
    motion = motion_from_track(FaceTrack(landmarks, ms))
    assert motion.shape == (10, MOTION_DIM) and np.isfinite(motion).all()
    assert motion[[0, 2, 3], Field.JAW_OPEN] == pytest.approx([0.0, 1.0, 0.5])
    assert motion[5, Field.BLINK_LEFT] == pytest.approx(1.0)
    assert motion[5, Field.BLINK_RIGHT] == 0.0 and motion[0, Field.BLINK_LEFT] == 0.0
    assert motion[7, Field.LIP_WIDTH] == pytest.approx(1.0)
    assert motion[7, Field.LIP_CORNER] == pytest.approx(1.0)
    assert motion[6] == pytest.approx((motion[5] + motion[7]) / 2)  # the gap is interpolated


def test_resampling_to_25_fps_keeps_the_duration_and_the_shape() -> None:
    times = np.arange(60) / 30.0  # 2 s at 30 fps
    ramp = np.stack([times, np.sin(times)], axis=1)
    out = resample_motion(ramp, times)
    assert out.shape == (50, 2)
    assert out[:, 0] == pytest.approx(np.minimum(np.arange(50) / 25.0, times[-1]), abs=1e-6)
