"""``likeness demo``: animate a portrait with a speech track and measure the result.

The operator's first look at the model: it renders the bundled sample (or given files), writes a
contact sheet of frames beside the portrait, and prints figures re-measured on the frames
(dlib landmarks re-detected, as the evaluation benchmark does). No video file is written here:
a video leaves the system only through the release path (watermark + C2PA).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from model.audio.types import FPS
from model.controls import Controls
from model.evaluation.metrics import (
    audio_envelope,
    blinks_per_minute,
    closed_mouth_share,
    head_motion_delta,
    lip_sync,
)
from model.evaluation.tracking import track_faces
from model.face.identity import face_descriptor, identity_distance
from model.pipeline import TalkingHeadPipeline
from service.media.audio import load_audio
from service.media.image import load_image

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"
SAMPLE_PORTRAIT = SAMPLES_DIR / "portrait.png"
SAMPLE_SPEECH = SAMPLES_DIR / "speech.wav"
IDENTITY_EVERY = 10  # 128-D descriptors cost ~150 ms each: measure every 10th frame


@dataclass(frozen=True)
class DemoFigures:
    frames: int
    seconds_of_audio: float
    analyse_ms: float
    first_frame_ms: float
    generate_fps: float
    lip_sync_r: float
    lip_sync_lag: int
    shifted_audio_r: float
    silent_frames_mouth_closed: float
    blinks_per_minute: float
    min_eye_aspect_ratio: float
    head_motion_deg_per_frame: float
    identity_distance_mean: float
    identity_distance_max: float


def run_demo(
    out_dir: Path,
    portrait_path: Path = SAMPLE_PORTRAIT,
    audio_path: Path = SAMPLE_SPEECH,
    controls: Controls = Controls(),
    pipeline: TalkingHeadPipeline | None = None,
) -> DemoFigures:
    """Generate, measure, write ``contact_sheet.png`` and ``figures.json`` into ``out_dir``."""
    image = load_image(portrait_path)
    samples, rate = load_audio(audio_path)
    pipeline = pipeline or TalkingHeadPipeline.from_pretrained()

    started = time.perf_counter()
    prepared = pipeline.prepare(image)
    analysed = time.perf_counter()
    features = pipeline.features(samples, rate)
    frames: list[np.ndarray] = []
    first_frame_at = None
    for frame in pipeline.generate(prepared, samples, rate, controls):
        if first_frame_at is None:
            first_frame_at = time.perf_counter()
        frames.append(frame)
    finished = time.perf_counter()

    figures = _measure(prepared.portrait, frames, features)
    figures = DemoFigures(
        frames=len(frames),
        seconds_of_audio=len(samples) / rate,
        analyse_ms=1000 * (analysed - started),
        first_frame_ms=1000 * ((first_frame_at or finished) - analysed),
        generate_fps=len(frames) / max(finished - analysed, 1e-9),
        **figures,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / "contact_sheet.png"), _contact_sheet(prepared.portrait.image, frames))
    (out_dir / "figures.json").write_text(json.dumps(asdict(figures), indent=1))
    return figures


def _measure(portrait, frames: list[np.ndarray], features) -> dict:
    track = track_faces(frames)
    aperture = track.series("aperture")
    envelope = audio_envelope(features)
    sync = lip_sync(aperture, envelope)
    # Control: the same frames against audio shifted by half the clip must not correlate.
    shifted = lip_sync(aperture, np.roll(envelope, len(envelope) // 2))
    blinks = blinks_per_minute(track.series("ear_left"), track.series("ear_right"), FPS)
    reference = face_descriptor(portrait.image, portrait.landmarks)
    distances = [
        identity_distance(reference, face_descriptor(frames[i], track.landmarks[i]))
        for i in range(0, len(frames), IDENTITY_EVERY)
        if track.found[i]
    ]
    return dict(
        lip_sync_r=sync.r,
        lip_sync_lag=sync.lag,
        shifted_audio_r=shifted.r,
        silent_frames_mouth_closed=closed_mouth_share(aperture, features.voiced),
        blinks_per_minute=blinks.per_minute,
        min_eye_aspect_ratio=blinks.min_ear,
        head_motion_deg_per_frame=head_motion_delta(track.poses()),
        identity_distance_mean=float(np.mean(distances)) if distances else float("nan"),
        identity_distance_max=float(np.max(distances)) if distances else float("nan"),
    )


def _contact_sheet(portrait: np.ndarray, frames: list[np.ndarray], columns: int = 6) -> np.ndarray:
    """BGR grid: the aligned portrait, then evenly spaced frames, each labelled with its time.

    The stills are too small to carry the watermark, so each generated tile says visibly that it
    is AI-generated: no generated frame leaves unmarked, not even in an evaluation sheet.
    """
    count = columns * 3 - 1
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    tiles = [(portrait, "portrait")] + [(frames[i], f"AI-generated {i / FPS:.2f} s") for i in picks]
    return contact_sheet(tiles, columns)


def contact_sheet(tiles: list[tuple[np.ndarray, str]], columns: int = 6, size: int = 256) -> np.ndarray:
    """BGR grid of labelled RGB images, ``columns`` wide, each scaled to ``size`` px."""
    cells = [_tile(rgb, label, size) for rgb, label in tiles]
    while len(cells) % columns:
        cells.append(np.zeros((size, size, 3), np.uint8))
    return np.vstack([np.hstack(cells[r : r + columns]) for r in range(0, len(cells), columns)])


def _tile(rgb: np.ndarray, label: str, size: int) -> np.ndarray:
    tile = cv2.resize(rgb[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA)
    cv2.putText(tile, label, (8, size - 10), cv2.FONT_HERSHEY_SIMPLEX, size / 430, (255, 255, 255), 2)
    return tile
