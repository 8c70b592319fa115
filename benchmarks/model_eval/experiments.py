"""The evaluation's experiments: the main grid, seeds, controls and speed."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from benchmarks.model_eval.inputs import Utterance
from benchmarks.model_eval.measure import ClipFigures, RenderedClip, render_and_measure
from model.audio.types import FPS
from model.controls import EMOTIONS, Controls
from model.evaluation.metrics import control_response
from model.motion.space import Field
from model.pipeline import PreparedPortrait, TalkingHeadPipeline
from training.procedural.generator import procedural_motion
from training.procedural.prosody import estimate_f0


def join_frames(pipeline: TalkingHeadPipeline, frames: int) -> list[int]:
    """First frames of every window after the first (where a seam would show)."""
    cfg = pipeline.network.config
    stride = cfg.window - cfg.window // 5
    return list(range(stride, frames, stride))


def procedural(utterance: Utterance, seed: int, emotion: int = 0) -> np.ndarray:
    """The rule-based generator that made the training targets, with the true phonemes."""
    f0 = estimate_f0(utterance.samples, utterance.sample_rate, utterance.frames, FPS)
    motion = procedural_motion(utterance.phonemes, utterance.features, emotion, (0.0, 0.0), 0.0,
                               np.random.default_rng(seed), f0=f0)
    return motion.values


def run_grid(
    pipeline: TalkingHeadPipeline,
    portraits: dict[str, PreparedPortrait],
    utterances: list[Utterance],
) -> tuple[dict[str, list[ClipFigures]], dict[str, RenderedClip]]:
    """Every portrait x utterance, with the diffusion model and with the procedural generator."""
    results: dict[str, list[ClipFigures]] = {"diffusion": [], "procedural": []}
    showcase: dict[str, RenderedClip] = {}
    for name, prepared in portraits.items():
        for k, utterance in enumerate(utterances):
            mismatched = utterances[(k + 1) % len(utterances)]
            joins = join_frames(pipeline, utterance.frames)
            keep = tuple(np.linspace(0, utterance.frames - 1, 17).round().astype(int))
            generated = pipeline.motion(utterance.features, Controls(seed=k)).values
            for kind, motion in (("diffusion", generated), ("procedural", procedural(utterance, k))):
                clip = render_and_measure(prepared, motion, utterance, mismatched, joins,
                                          keep if k == 0 else ())
                results[kind].append(clip.figures)
                if k == 0:
                    showcase[f"{name}_{kind}"] = clip
            print(f"  grid: {name} x {utterance.spec.name} done", flush=True)
    return results, showcase


@dataclass(frozen=True)
class SeedFigures:
    seeds: int
    head_pose_difference_deg: float  # mean |pose(seed a) - pose(seed b)| over frames and pairs
    mouth_difference: float  # mean |jaw_open(a) - jaw_open(b)|: audio-driven, should stay small
    lip_sync_r_per_seed: list[float]


def run_seeds(pipeline: TalkingHeadPipeline, prepared: PreparedPortrait,
              utterances: list[Utterance], seeds: int = 4) -> SeedFigures:
    utterance, other = utterances[0], utterances[1]
    motions = [pipeline.motion(utterance.features, Controls(seed=s)).values for s in range(seeds)]
    pose_diffs, mouth_diffs = [], []
    for a in range(seeds):
        for b in range(a + 1, seeds):
            pose = motions[a][:, [Field.YAW, Field.PITCH, Field.ROLL]]
            pose_b = motions[b][:, [Field.YAW, Field.PITCH, Field.ROLL]]
            pose_diffs.append(float(np.degrees(np.abs(pose - pose_b)).mean()))
            jaw = motions[a][:, Field.JAW_OPEN] - motions[b][:, Field.JAW_OPEN]
            mouth_diffs.append(float(np.abs(jaw).mean()))
    joins = join_frames(pipeline, utterance.frames)
    rs = [render_and_measure(prepared, m, utterance, other, joins).figures.lip_sync_r for m in motions]
    return SeedFigures(seeds, float(np.mean(pose_diffs)), float(np.mean(mouth_diffs)), rs)


@dataclass(frozen=True)
class ControlFigures:
    name: str
    commanded: list[float]
    measured: list[float]
    measure: str
    slope: float
    r: float


def run_controls(pipeline: TalkingHeadPipeline, prepared: PreparedPortrait,
                 utterance: Utterance) -> list[ControlFigures]:
    """Command each control at several settings; measure the matching quantity on the frames."""
    other = utterance
    joins = join_frames(pipeline, utterance.frames)

    def measured(controls: Controls) -> RenderedClip:
        motion = pipeline.motion(utterance.features, controls).values
        return render_and_measure(prepared, motion, utterance, other, joins)

    out = []
    for axis, values in ((0, (-0.6, 0.0, 0.6)), (1, (-0.4, 0.0, 0.4))):
        got = []
        for v in values:
            gaze = (v, 0.0) if axis == 0 else (0.0, v)
            got.append(float(np.nanmean(measured(Controls(gaze=gaze)).track.gaze()[:, axis])))
        resp = control_response(np.array(values), np.array(got))
        out.append(ControlFigures(f"gaze_{'xy'[axis]}", list(values), got,
                                  "mean pupil offset (-1..1)", resp.slope, resp.r))
    distances = (-0.2, 0.0, 0.2)
    got = [float(np.nanmean(measured(Controls(distance=d)).track.series("interocular")))
           for d in distances]
    resp = control_response(np.array(distances), np.log(np.array(got) / got[1]))
    out.append(ControlFigures("distance", list(distances), got, "mean inter-ocular px (slope: log ratio)",
                              resp.slope, resp.r))
    for emotion in EMOTIONS:
        track = measured(Controls(emotion=emotion)).track
        out.append(ControlFigures(
            f"emotion_{emotion}", [float(EMOTIONS.index(emotion))],
            [float(np.nanmean(track.series("lip_corner"))),
             float(np.nanmean(track.series("brow_height")))],
            "mean lip-corner height, mean brow height (iod)", float("nan"), float("nan")))
    return out


@dataclass(frozen=True)
class SpeedFigures:
    audio_seconds: float
    features_ms_per_audio_second: float
    motion_fps: float
    render_fps: float
    generate_fps: float  # motion + render, end to end, after portrait analysis
    analyse_ms: float
    stream_first_frame_ms: float  # after the first 40 ms chunk arrives, chunks paced in real time
    stream_compute_first_frame_ms: float  # compute alone, chunks available at once
    stream_final_lag_ms: float  # how far the last frame trailed the end of the audio
    load_average: float  # 1-minute load average at the end: other work sharing the CPU


def run_speed(pipeline: TalkingHeadPipeline, image: np.ndarray, utterances: list[Utterance]) -> SpeedFigures:
    samples = np.concatenate([u.samples for u in utterances] * 2)
    rate = utterances[0].sample_rate
    seconds = len(samples) / rate
    t = time.perf_counter()
    prepared = pipeline.prepare(image)
    analyse = time.perf_counter() - t
    t = time.perf_counter()
    features = pipeline.features(samples, rate)
    feat = time.perf_counter() - t
    t = time.perf_counter()
    motion = pipeline.motion(features).values
    motion_s = time.perf_counter() - t
    t = time.perf_counter()
    for m in motion:
        prepared.renderer.render(m)
    render_s = time.perf_counter() - t
    t = time.perf_counter()
    n = sum(1 for _ in pipeline.generate(prepared, samples, rate))
    gen_s = time.perf_counter() - t
    short = utterances[0]
    first_paced, lag = _paced_stream(pipeline, prepared, short.samples, short.sample_rate)
    first_compute = _unpaced_first_frame(pipeline, prepared, short.samples, short.sample_rate)
    return SpeedFigures(seconds, 1000 * feat / seconds, len(motion) / motion_s,
                        len(motion) / render_s, n / gen_s, 1000 * analyse,
                        1000 * first_paced, 1000 * first_compute, 1000 * lag,
                        os.getloadavg()[0])


def _chunks(samples: np.ndarray, rate: int, seconds: float = 0.04) -> list[np.ndarray]:
    step = int(rate * seconds)
    return [samples[i : i + step] for i in range(0, len(samples), step)]


def _paced_stream(pipeline, prepared, samples, rate) -> tuple[float, float]:
    """Feed 40 ms chunks at the speed of real time from a producer thread (as a microphone
    would); return (first frame after the first chunk, lag of the last frame after the end)."""
    chunks = _chunks(samples, rate)
    arrivals: list[float] = []
    queue: list[np.ndarray] = []
    ready = threading.Condition()

    def producer() -> None:
        start = time.perf_counter()
        for i, chunk in enumerate(chunks):
            time.sleep(max(0.0, start + (i + 1) * 0.04 - time.perf_counter()))
            with ready:
                arrivals.append(time.perf_counter())
                queue.append(chunk)
                ready.notify()
        with ready:
            queue.append(None)  # type: ignore[arg-type]
            ready.notify()

    def consume():
        while True:
            with ready:
                while not queue:
                    ready.wait()
                chunk = queue.pop(0)
            if chunk is None:
                return
            yield chunk

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    first = last = None
    for _frame in pipeline.stream(prepared, consume(), rate):
        last = time.perf_counter()
        first = first or last
    thread.join()
    return first - arrivals[0], last - arrivals[-1]


def _unpaced_first_frame(pipeline, prepared, samples, rate) -> float:
    t = time.perf_counter()
    for _frame in pipeline.stream(prepared, iter(_chunks(samples, rate)), rate):
        return time.perf_counter() - t
    return float("nan")


def as_dict(obj) -> dict:
    return asdict(obj)
