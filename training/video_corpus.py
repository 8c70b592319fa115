"""Builds a motion training corpus from real talking videos: landmarks → 16-D motion + audio.

Each video is decoded with PyAV; its frames are tracked with dlib (``track_faces``) and each
frame's measurements are turned into the motion vector of ``model.motion.space``; its audio
track becomes ``AudioFeatures``. Both are put on the 25 fps grid, aligned by their timestamps
and cut to the same length. Files with no face, no audio or too little of either are skipped
with the reason logged and listed in the corpus settings.

Calibration (``MotionCalibration``; the clip stands in for the portrait, so "relative" fields
are measured against the clip's median, its typical neutral state):

==========  ===========================================================================
yaw..roll   ``estimate_head_pose`` minus the clip median
tx, ty      centre of the stable points (eyes, nose, upper jaw) minus its median, / median iod
scale       log(size / median size); size = sqrt(iod / cos yaw × nose length / cos pitch),
            two lengths the mouth does not move, corrected for foreshortening
jaw_open    absolute: inner-lip gap / iod / 0.6 (the motion space's "wide ah")
lip_width   (mouth width − rest width) / 0.25 iod; rest = median over near-closed frames
lip_round   0.7 × narrowing ((rest − width) / 0.2 iod) + 0.3 × protrusion proxy (visible lip
            thickness over width, grown by 60 % → 1): rounded lips are narrow and pouted
lip_corner  (corner height − median) / 0.12 iod
lip_press   closed (gap < 0.05 iod, fading in from 0.05) × thinning (visible lip thickness
            below its closed-mouth median, −35 % → 1): pressed lips roll inwards
blink_*     drop = 1 − EAR / open EAR (open EAR = 75th percentile of that eye); blink =
            (drop − 0.2) / 0.55: drops under 20 % are landmark jitter, 75 % is shut
brow_raise  (brow height − median) / 0.1 iod
gaze_x/y    mean pupil offset of both eyes (±1 = eye corner / lid) minus its median
==========  ===========================================================================

Frames without a face, and gaze while the eyes are shut, are filled by linear interpolation.

CLI: ``python -m training.video_corpus VIDEO... --out DIR``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import av
import click
import cv2
import numpy as np

from model.audio.features import AudioLimits, extract_features
from model.audio.types import FPS, SAMPLE_RATE, AudioFeatures
from model.controls import EMOTIONS
from model.errors import ModelError, NoFaceFound
from model.evaluation.tracking import FaceTrack, track_faces
from model.face.landmarks import POSE_POINTS
from model.motion.space import (
    MOTION_DIM,
    MOUTH_FIELDS,
    POSE_FIELDS,
    Field,
    MotionSequence,
    clip_motion,
)
from training.corpus_format import Corpus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionCalibration:
    """Scales from measurements (inter-ocular units, EAR) to motion units; see module doc."""

    jaw_full_gap: float = 0.6
    lip_width_unit: float = 0.25
    lip_round_narrow_unit: float = 0.2
    lip_round_thick_gain: float = 0.6
    lip_corner_unit: float = 0.12
    press_closed_gap: float = 0.05
    press_thinning: float = 0.35
    blink_dead_zone: float = 0.2
    blink_full_drop: float = 0.75
    open_ear_percentile: float = 75.0
    brow_unit: float = 0.1
    min_face_share: float = 0.8  # a clip needs a face in this share of its frames


@dataclass(frozen=True)
class BuildSettings:
    """min_seconds: shorter clips are skipped. max_side: frames are shrunk to this longer side
    before tracking (faces must stay above ~80 px). eval_share: share of files put in the eval
    split (by a hash of the file name, so a file keeps its split)."""

    min_seconds: float = 2.0
    max_side: int = 640
    eval_share: float = 0.1
    max_audio_seconds: float = 3600.0


class ClipSkipped(Exception):
    """A video unusable for the corpus; the message is the reason logged."""


# --------------------------------------------------------------------------- landmarks → motion


def _fill_gaps(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaNs along axis 0 of (T,) or (T, D); edges hold the nearest."""
    out = np.array(x, dtype=np.float64)
    flat = out.reshape(len(out), -1)
    t = np.arange(len(out))
    for col in flat.T:
        ok = np.isfinite(col)
        if ok.any() and not ok.all():
            col[~ok] = np.interp(t[~ok], t[ok], col[ok])
        elif not ok.any():
            col[:] = 0.0
    return out


def _median(x: np.ndarray, where: np.ndarray | None = None) -> float:
    sel = x[np.isfinite(x) & (where if where is not None else True)]
    if sel.size == 0:
        sel = x[np.isfinite(x)]
    return float(np.median(sel)) if sel.size else 0.0


def _pose_fields(track: FaceTrack) -> np.ndarray:
    """(T, 6) yaw, pitch, roll, tx, ty, scale relative to the clip's median."""
    pose = track.poses()
    iod, nose = track.series("interocular"), track.series("nose_length")
    centre = track.landmarks[:, POSE_POINTS].mean(axis=1)  # (T, 2), NaN where no face
    cos_y = np.clip(np.cos(pose[:, 0]), 0.5, 1.0)
    cos_p = np.clip(np.cos(pose[:, 1]), 0.5, 1.0)
    size = np.sqrt(iod / cos_y * nose * iod / cos_p)
    ref_iod = _median(iod)
    out = np.empty((len(track), 6))
    for i in range(3):
        out[:, i] = pose[:, i] - _median(pose[:, i])
    out[:, 3] = (centre[:, 0] - _median(centre[:, 0])) / ref_iod
    out[:, 4] = (centre[:, 1] - _median(centre[:, 1])) / ref_iod
    out[:, 5] = np.log(size / _median(size))
    return out


def _mouth_fields(track: FaceTrack, c: MotionCalibration) -> np.ndarray:
    """(T, 5) jaw_open, lip_width, lip_round, lip_corner, lip_press."""
    gap, width = track.series("aperture"), track.series("mouth_width")
    thick, corner = track.series("lip_thickness"), track.series("lip_corner")
    closed = gap < c.press_closed_gap
    rest_width = _median(width, gap < 0.1)
    rest_ratio = max(_median(thick / width, closed), 1e-3)
    rest_thick = max(_median(thick, closed), 1e-3)
    narrow = np.clip((rest_width - width) / c.lip_round_narrow_unit, 0.0, 1.0)
    pout = np.clip((thick / width / rest_ratio - 1.0) / c.lip_round_thick_gain, 0.0, 1.0)
    closedness = np.clip(1.0 - gap / c.press_closed_gap, 0.0, 1.0)
    thinning = np.clip((rest_thick - thick) / (c.press_thinning * rest_thick), 0.0, 1.0)
    return np.stack(
        [
            gap / c.jaw_full_gap,
            (width - rest_width) / c.lip_width_unit,
            0.7 * narrow + 0.3 * pout,
            (corner - _median(corner)) / c.lip_corner_unit,
            closedness * thinning,
        ],
        axis=1,
    )


def _eye_fields(track: FaceTrack, c: MotionCalibration) -> np.ndarray:
    """(T, 5) blink_left, blink_right, brow_raise, gaze_x, gaze_y."""
    blinks = []
    for name in ("ear_left", "ear_right"):
        ear = track.series(name)
        finite = ear[np.isfinite(ear)]
        open_ear = float(np.percentile(finite, c.open_ear_percentile)) if finite.size else 1.0
        open_ear = max(open_ear, 1e-3)
        drop = 1.0 - ear / open_ear
        blinks.append((drop - c.blink_dead_zone) / (c.blink_full_drop - c.blink_dead_zone))
    brow = track.series("brow_height")
    gaze = _fill_gaps(track.gaze())
    gaze -= np.median(gaze, axis=0) if len(gaze) else 0.0
    return np.column_stack([*blinks, (brow - _median(brow)) / c.brow_unit, gaze])


# Columns filled by _pose_fields, _mouth_fields and _eye_fields, in their output order.
_POSE = [int(f) for f in POSE_FIELDS]
_MOUTH = [int(f) for f in MOUTH_FIELDS]
_EYE_FIELDS = (Field.BLINK_LEFT, Field.BLINK_RIGHT, Field.BROW_RAISE, Field.GAZE_X, Field.GAZE_Y)
_EYES = [int(f) for f in _EYE_FIELDS]


def motion_from_track(
    track: FaceTrack, calibration: MotionCalibration = MotionCalibration()
) -> np.ndarray:
    """(T, MOTION_DIM) float32 motion at the track's own frame rate, gaps filled, clipped."""
    values = np.empty((len(track), MOTION_DIM))
    values[:, _POSE] = _pose_fields(track)
    values[:, _MOUTH] = _mouth_fields(track, calibration)
    values[:, _EYES] = _eye_fields(track, calibration)
    values[~track.found] = np.nan
    # Clip before filling, so a gap is bridged between values the renderer would really see.
    return _fill_gaps(clip_motion(values)).astype(np.float32)


def resample_motion(values: np.ndarray, times: np.ndarray, fps: float = FPS) -> np.ndarray:
    """(T, D) samples taken at ``times`` (seconds, increasing) → (N, D) on a grid of ``fps``
    starting at times[0], N = frames that fit within the last sample time + one frame."""
    if len(values) == 0:
        return np.zeros((0, values.shape[1]), np.float32)
    step = (times[-1] - times[0]) / max(len(times) - 1, 1) if len(times) > 1 else 1.0 / fps
    n = max(int(np.floor((times[-1] - times[0] + step) * fps + 1e-6)), 1)
    grid = times[0] + np.arange(n) / fps
    out = np.column_stack([np.interp(grid, times, col) for col in values.T])
    return out.astype(np.float32)


def extract_clip_motion(
    frames: Iterable[np.ndarray],
    fps: float,
    times: Iterable[float] | None = None,
    calibration: MotionCalibration = MotionCalibration(),
) -> MotionSequence:
    """Motion at 25 fps of the (largest) face in (H, W, 3) uint8 RGB frames filmed at ``fps``.

    times: per-frame timestamps in seconds (a variable-rate video), read after ``frames`` is
    exhausted; frame k is at k / fps otherwise. Raises NoFaceFound when a face was tracked in
    fewer than ``calibration.min_face_share`` of the frames.
    """
    track = track_faces(frames, pupils=True)
    if len(track) == 0 or track.found.mean() < calibration.min_face_share:
        share = float(track.found.mean()) if len(track) else 0.0
        raise NoFaceFound(f"a face was found in only {share:.0%} of the frames", face_share=share)
    stamps = np.asarray(list(times), np.float64) if times is not None else None
    if stamps is None or len(stamps) != len(track):
        stamps = np.arange(len(track)) / fps
    values = resample_motion(motion_from_track(track, calibration), stamps - stamps[0])
    return MotionSequence(values, float(FPS))


# --------------------------------------------------------------------------- decoding


def _video_frames(path: Path, max_side: int, times: list[float]) -> Iterator[np.ndarray]:
    """RGB frames of the first video stream, shrunk to ``max_side``; appends each frame's time."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            image = frame.to_ndarray(format="rgb24")
            longest = max(image.shape[:2])
            if longest > max_side:
                f = max_side / longest
                image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            times.append(float(frame.time) if frame.time is not None else len(times) / _fps(stream))
            yield image


def _fps(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else float(FPS)


def _decode_audio(path: Path) -> tuple[np.ndarray, float]:
    """Mono float32 samples at SAMPLE_RATE of the first audio stream and its start time (s)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        start: float | None = None
        for frame in container.decode(stream):
            if start is None and frame.time is not None:
                start = float(frame.time)
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return samples, start or 0.0


def _probe(path: Path, settings: BuildSettings) -> float:
    """The video's frame rate; ClipSkipped (before any decoding) for a file without video or
    audio, or one whose container says it is too short."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ClipSkipped("no video stream")
            if not container.streams.audio:
                raise ClipSkipped("no audio stream")
            seconds = container.duration / av.time_base if container.duration else float("inf")
            fps = _fps(container.streams.video[0])
    except av.FFmpegError as exc:
        raise ClipSkipped(f"cannot decode: {exc}") from exc
    if seconds < settings.min_seconds:
        raise ClipSkipped(f"too short: {seconds:.2f} s < {settings.min_seconds:g} s")
    return fps


def _clip_arrays(
    path: Path, settings: BuildSettings, calibration: MotionCalibration
) -> tuple[np.ndarray, AudioFeatures]:
    """Aligned (T, MOTION_DIM) motion and T frames of audio features for one video."""
    fps = _probe(path, settings)
    times: list[float] = []
    try:
        frames = _video_frames(path, settings.max_side, times)
        motion = extract_clip_motion(frames, fps, times, calibration)
        samples, audio_start = _decode_audio(path)
        limits = AudioLimits(max_seconds=settings.max_audio_seconds)
        audio = extract_features(samples, SAMPLE_RATE, limits)
    except ModelError as exc:
        raise ClipSkipped(f"{exc.code}: {exc}") from exc
    except av.FFmpegError as exc:
        raise ClipSkipped(f"cannot decode: {exc}") from exc
    # Line both up on the video's first frame: drop whichever stream started earlier.
    shift = int(round((times[0] - audio_start) * FPS))
    m, a = motion.values, audio
    if shift >= 0:
        a = audio.slice(shift, len(audio))
    else:
        m = motion.values[-shift:]
    n = min(len(m), len(a))
    if n < settings.min_seconds * FPS:
        raise ClipSkipped(f"too short after aligning audio and video: {n / FPS:.2f} s")
    if abs(len(m) - len(a)) > FPS:
        log.info("%s: video and audio differ by %d frames; cut to %d", path, len(m) - len(a), n)
    return m[:n], a.slice(0, n)


def _split(path: Path, eval_share: float) -> str:
    digest = int(hashlib.sha1(path.name.encode()).hexdigest()[:8], 16)
    return "eval" if digest % 1000 < eval_share * 1000 else "train"


def build_video_corpus(
    video_paths: Iterable[Path | str],
    out_dir: Path | str,
    settings: BuildSettings = BuildSettings(),
    calibration: MotionCalibration = MotionCalibration(),
) -> Corpus:
    """Build a corpus (one clip per usable video) and save it in ``out_dir``.

    Every unusable file is skipped with a logged reason (no video/audio stream, undecodable,
    too short, no face in enough frames, silent or broken audio); the reasons are kept in
    ``corpus.settings["skipped"]``. The emotion of real clips is unknown: labelled neutral.
    """
    motions: list[np.ndarray] = []
    audios: list[np.ndarray] = []
    clips: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for raw in video_paths:
        path = Path(raw)
        try:
            motion, audio = _clip_arrays(path, settings, calibration)
        except ClipSkipped as exc:
            log.warning("skipping %s: %s", path, exc)
            skipped.append({"source": str(path), "reason": str(exc)})
            continue
        motions.append(motion)
        audios.append(audio.frame_vectors())
        clips.append({
            "id": f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}",
            "source": str(path), "voice": "real", "language": "unknown",
            "split": _split(path, settings.eval_share), "frames": len(motion),
        })  # fmt: skip
    corpus = Corpus.from_clips(
        motions, audios, [EMOTIONS.index("neutral")] * len(clips), clips,
        {"builder": "training.video_corpus", "fps": FPS, "build": asdict(settings),
         "calibration": asdict(calibration), "skipped": skipped},
    )  # fmt: skip
    corpus.save(Path(out_dir))
    return corpus


@click.command()
@click.argument(
    "videos", nargs=-1, required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)  # fmt: skip
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--min-seconds", default=BuildSettings.min_seconds, show_default=True)
def main(videos: tuple[Path, ...], out_dir: Path, min_seconds: float) -> None:
    """Build a motion corpus from talking-head VIDEO files into --out."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    corpus = build_video_corpus(videos, out_dir, BuildSettings(min_seconds=min_seconds))
    skipped = len(corpus.settings["skipped"])
    click.echo(f"{len(corpus)} clips, {len(corpus.motion)} frames -> {out_dir} ({skipped} skipped)")


if __name__ == "__main__":
    main()
