"""Consent recordings for tests and benchmarks, built from real portraits and espeak-ng speech.

A camera recording of the subject reading the challenge is stood in for by the project's own
model animating a real photograph (``model.pipeline``, *not* the release path: no watermark, no
manifest), muxed with espeak-ng reading the script, written as H.264 + AAC by ``Mp4Writer``.

Performing the prompts: the model has no head-pose control, but its motion space is explicit -
``Field.YAW`` is the head's turn in radians. So the clip's motion is generated from the audio as
usual and a smooth turn (a raised-cosine bump, 0.35 rad ~ 20 degrees) is added to the yaw inside
each turn prompt's window, as a person would turn when asked; the renderer then draws that.
The phrase is spoken 0.5 s after "read the words now" appears, the statement from the start.

    clips = ConsentClips(tmp_dir)            # obama, reference portrait obama2, voice en-us+f2;
                                             # as long as the statement needs (~14 s)
    clips.path("genuine")                    # built on first use, then reused
    clips.challenge, clips.schedule, clips.references

Cases (``CASES``): genuine, wrong_person, wrong_words, missing_words, still_photo,
watermarked, ai_manifest, two_faces, no_audio, silent_audio, corrupt, prompts_ignored,
prompts_mistimed, prompts_swayed (prompts ignored, the head swaying side to side throughout, as
a clip made in advance would to meet turn prompts by chance). ``watermarked`` and
``ai_manifest`` need the keys (``watermark_key`` / ``signing_identity``). Rendering a clip costs ~3 s on two idle cores.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import torch

from model.controls import Controls
from model.diffusion.sampler import SamplerConditions, StreamingMotionSampler
from model.face.identity import face_descriptor
from model.face.portrait import PortraitLimits, analyse_portrait
from model.motion.blinks import BlinkShaper
from model.motion.dials import apply_dials
from model.motion.space import Field, clip_motion
from model.pipeline import MOTION_BLOCK_FRAMES, TalkingHeadPipeline
from policy.consent.evidence import (
    WORD_LIST, Challenge, PromptKind, PromptSchedule, new_challenge, new_prompt_schedule,
)
from policy.provenance import IngredientRecord, ProvenanceClaim, SigningIdentity, SoftBinding, \
    sign_video
from policy.watermark import ALGORITHM_ID, WatermarkEmbedder, WatermarkKey, WatermarkPayload
from service.media.image import load_image
from service.media.video import EncodeSettings, Mp4Writer
from training.espeak import synthesize

ROOT = Path(__file__).resolve().parents[1]
FACES = {
    "obama": ROOT / "tests/fixtures/faces/obama.jpg",
    "obama2": ROOT / "tests/fixtures/faces/obama2.jpg",
    "biden": ROOT / "tests/fixtures/faces/biden.jpg",
    "astronaut": ROOT / "tests/fixtures/faces/astronaut.jpg",
    "sample": ROOT / "assets/samples/portrait.png",
}
NAMES = {"obama": "Barack Obama", "obama2": "Barack Obama", "biden": "Joe Biden",
         "astronaut": "Eileen Collins", "sample": "Eileen Collins"}
# A different photograph of the same person where the fixtures have one.
REFERENCE_OF = {"obama": "obama2", "obama2": "obama", "biden": "biden",
                "astronaut": "sample", "sample": "astronaut"}
LIMITS = PortraitLimits(min_interocular=20.0)  # the fixtures are downscaled to 480 px
CASES = ("genuine", "wrong_person", "wrong_words", "missing_words", "still_photo",
         "watermarked", "ai_manifest", "two_faces", "no_audio", "silent_audio", "corrupt",
         "prompts_ignored", "prompts_mistimed", "prompts_swayed")
FPS = 25
RATE = 22_050  # espeak-ng's
TURN_RAD = 0.35
# prompts_swayed: a slow side-to-side sway (amplitude, period), as large as the turn threshold
SWAY_RAD, SWAY_PERIOD = 0.2, 3.2
# Every second frame is rendered and shown twice, as a 12.5 fps webcam would film: half the
# cost, and the checks sample at 12.5 fps anyway (``service.media.evidence``).
RENDER_EVERY = 2
# Cheaper sampling than the release default (8 steps, gaze guidance 1.0): a third of the
# motion model's cost; the checks look at lips, pose and identity, not at motion finesse.
SAMPLING = Controls(steps=4, gaze_guidance=0.0)
PHRASE_DELAY = 0.5
STATEMENT_WPM = 190


@dataclass(frozen=True)
class Performance:
    """What a clip does: which face, which words, which head turns (start, end, sign)."""

    portrait: str
    spoken_words: tuple[str, ...]
    phrase_at: float
    turns: tuple[tuple[float, float, int], ...]
    sway: float = 0.0  # amplitude (radians) of a sway through the whole clip


@lru_cache(maxsize=1)
def pipeline() -> TalkingHeadPipeline:
    return TalkingHeadPipeline.from_pretrained(device="cpu", portrait_limits=LIMITS)


def speech_motion(audio: np.ndarray, seed: int) -> np.ndarray:
    """(T, MOTION_DIM) motion the model generates for 22.05 kHz ``audio``, window by window as
    ``TalkingHeadPipeline.generate`` does it (feeding the whole audio at once is ~3x slower);
    cached, since several cases share their audio (same words, other face or other turns)."""
    key = (hashlib.sha256(audio.tobytes()).hexdigest(), seed)
    if key not in _MOTIONS:
        with one_torch_thread():
            _MOTIONS[key] = _generate_motion(audio, seed)
    return _MOTIONS[key]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Small tensors: one thread is ~10x faster than two on a busy 2-core machine (measured),
    where the second thread only waits for the other processes' cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _generate_motion(audio: np.ndarray, seed: int) -> np.ndarray:
    model, controls = pipeline(), replace(SAMPLING, seed=seed)
    sampler = StreamingMotionSampler(
        model.network, model.scheduler, SamplerConditions.from_controls(controls),
        steps=controls.steps, audio_guidance=controls.audio_guidance,
        gaze_guidance=controls.gaze_guidance, seed=controls.seed)
    lids, vectors = BlinkShaper(), model.features(audio, RATE).frame_vectors()
    blocks = [lids.apply(sampler.push(vectors[i:i + MOTION_BLOCK_FRAMES],
                                      final=i + MOTION_BLOCK_FRAMES >= len(vectors)))
              for i in range(0, len(vectors), MOTION_BLOCK_FRAMES)]
    return apply_dials(np.concatenate(blocks), controls)


_MOTIONS: dict[tuple[str, int], np.ndarray] = {}


@lru_cache(maxsize=8)
def portrait_encoding(name: str) -> np.ndarray:
    """(128,) dlib descriptor of a fixture portrait (as the service stores a reference)."""
    portrait = analyse_portrait(load_image(FACES[name].read_bytes()), LIMITS)
    return face_descriptor(portrait.image, portrait.landmarks)


class ConsentClips:
    """Builds (once) and caches the consent clips of one subject, challenge and schedule."""

    def __init__(self, directory: Path, *, subject: str = "obama", impostor: str = "biden",
                 voice: str = "en-us+f2", seed: int = 0, duration: float | None = None,
                 partner: str = "Acme", reuse_files: bool = False) -> None:
        """``reuse_files``: take a clip already in ``directory`` instead of building it (for
        benchmarks re-run on the same cases; tests start from an empty directory)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.subject, self.impostor, self.voice, self.seed = subject, impostor, voice, seed
        rng = random.Random(seed)
        self.challenge: Challenge = new_challenge(
            rng, subject_name=NAMES[subject], partner_name=partner, purposes=("education",),
            expires_on=date(2027, 3, 1))
        # "read the words now" comes at >= 50 % of the capture: long enough that the
        # statement (spoken from 0.3 s) is over by then
        statement_end = 0.3 + len(_speak(self.challenge.statement, voice, STATEMENT_WPM)) / RATE
        duration = duration or max(10.0, np.ceil(4.0 * (statement_end + 0.3)) / 2.0)
        self.schedule: PromptSchedule = new_prompt_schedule(rng, float(duration))
        self.other_words = tuple(rng.sample([w for w in WORD_LIST
                                             if w not in self.challenge.words], 4))
        self._paths: dict[str, Path] = {}
        self.reuse_files = reuse_files

    @property
    def references(self) -> tuple[np.ndarray, ...]:
        """The partner's reference portrait of the subject: another photo where there is one."""
        return (portrait_encoding(REFERENCE_OF[self.subject]),)

    @property
    def duration(self) -> float:
        return self.schedule.duration_seconds

    def path(self, case: str, *, watermark_key: WatermarkKey | None = None,
             signing_identity: SigningIdentity | None = None) -> Path:
        if case not in self._paths:
            target = self.directory / f"{self.subject}-{self.voice}-{self.seed}-{case}.mp4"
            if not (self.reuse_files and target.is_file()):
                self._build(case, target, watermark_key, signing_identity)
            self._paths[case] = target
        return self._paths[case]

    # -- performances ------------------------------------------------------------------------

    def performance(self, case: str) -> Performance:
        read = self.schedule.of_kind(PromptKind.READ_WORDS)[0]
        turns = tuple(_turn(p.at_seconds, p.window_seconds, p.expected_yaw_sign)
                      for p in self.schedule.prompts if p.expected_yaw_sign)
        words, phrase_at = self.challenge.words, read.at_seconds + PHRASE_DELAY
        portrait = self.impostor if case == "wrong_person" else self.subject
        if case == "wrong_words":
            words = self.other_words
        elif case == "missing_words":
            words = words[:2]
        elif case == "prompts_ignored":
            turns = ()
        elif case == "prompts_mistimed":  # made in advance: turns when asked, the wrong way
            turns = tuple((start, end, -sign) for start, end, sign in turns)
        elif case == "prompts_swayed":  # made in advance: sways, so some turn meets a window
            return Performance(portrait, tuple(words), phrase_at, (), SWAY_RAD)
        return Performance(portrait, tuple(words), phrase_at, turns)

    def audio(self, performance: Performance) -> np.ndarray:
        """(N,) float32 at 22.05 kHz: the statement from 0.3 s, the phrase at ``phrase_at``."""
        out = np.zeros(int(round(self.duration * RATE)), np.float32)
        statement = _speak(self.challenge.statement, self.voice, STATEMENT_WPM)
        phrase = _speak(", ".join(performance.spoken_words) + ".", self.voice, 150)
        if 0.3 + len(statement) / RATE > performance.phrase_at:
            raise ValueError("the statement runs into the phrase: make the clip longer")
        _place(out, statement, 0.3)
        _place(out, phrase, performance.phrase_at)
        return out

    def frames(self, performance: Performance, audio: np.ndarray) -> list[np.ndarray]:
        """The model's frames for the audio, with the head turns added to its yaw."""
        prepared = pipeline().prepare(load_image(FACES[performance.portrait].read_bytes()))
        motion = speech_motion(audio, self.seed).copy()
        times = np.arange(len(motion)) / FPS
        for start, end, sign in performance.turns:
            inside = (times >= start) & (times <= end)
            phase = (times[inside] - start) / max(end - start, 1e-6)
            motion[inside, Field.YAW] += sign * TURN_RAD * 0.5 * (1 - np.cos(2 * np.pi * phase))
        if performance.sway:
            start = random.Random(self.seed).uniform(0.0, SWAY_PERIOD)
            motion[:, Field.YAW] += performance.sway * np.sin(2 * np.pi * (times + start)
                                                              / SWAY_PERIOD)
        rendered = [prepared.renderer.render(m) for m in clip_motion(motion)[::RENDER_EVERY]]
        return [rendered[i // RENDER_EVERY] for i in range(len(motion))]

    # -- building ----------------------------------------------------------------------------

    def _build(self, case: str, target: Path, key: WatermarkKey | None,
               identity: SigningIdentity | None) -> None:
        if case in ("genuine", "wrong_person", "wrong_words", "missing_words",
                    "prompts_ignored", "prompts_mistimed", "prompts_swayed"):
            performance = self.performance(case)
            audio = self.audio(performance)
            write_clip(target, self.frames(performance, audio), audio)
        elif case == "still_photo":
            performance = self.performance("genuine")
            image = pipeline().prepare(load_image(FACES[self.subject].read_bytes())).portrait.image
            write_clip(target, [image] * int(self.duration * FPS), self.audio(performance))
        elif case in ("no_audio", "silent_audio"):
            frames, audio = read_clip(self.path("genuine"))
            write_clip(target, frames, None if case == "no_audio" else np.zeros_like(audio))
        elif case == "two_faces":
            left, audio = read_clip(self.path("genuine"))
            right, _ = read_clip(self.path("wrong_person"))
            write_clip(target, [np.concatenate([a, b], axis=1) for a, b in zip(left, right)],
                       audio)
        elif case == "watermarked":
            if key is None:
                raise ValueError("the watermarked case needs watermark_key")
            frames, audio = read_clip(self.path("genuine"))
            embedder = WatermarkEmbedder(key, WatermarkPayload(secrets.randbits(56), 1))
            write_clip(target, [embedder.embed(f) for f in frames], audio)
        elif case == "ai_manifest":
            if identity is None:
                raise ValueError("the ai_manifest case needs signing_identity")
            sign_video(self.path("genuine"), target, ai_claim(), identity)
        elif case == "corrupt":
            data = self.path("genuine").read_bytes()
            target.write_bytes(data[:48] + bytes(random.Random(1).randbytes(4096)))
        else:
            raise ValueError(f"unknown consent clip case {case!r}")


def ai_claim() -> ProvenanceClaim:
    """A manifest that declares the file AI-generated (what any C2PA generator writes)."""
    return ProvenanceClaim(
        asset_id="0123456789abcd", title="consent.mp4", model_name="some-avatar-model",
        model_version="1.0", weights_sha256="e3" * 32, generator="avatar-maker/1.0",
        ingredients=(IngredientRecord("portrait", "image/jpeg", "a1" * 32),),
        soft_binding=SoftBinding(ALGORITHM_ID, bytes(8)))


def write_clip(path: Path, frames: list[np.ndarray], audio: np.ndarray | None) -> Path:
    height, width = frames[0].shape[:2]
    track = None if audio is None else (audio, RATE)
    with Mp4Writer(path, (width, height), track, EncodeSettings(crf=20, fps=FPS)) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def read_clip(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames and the audio (resampled to 22.05 kHz mono) of a clip written here."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [out.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                  for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return frames, np.concatenate(chunks).astype(np.float32)


def _turn(at: float, window: float, sign: int) -> tuple[float, float, int]:
    return at + 0.3, at + window - 0.2, sign


@lru_cache(maxsize=64)
def _speak(text: str, voice: str, rate_wpm: int) -> np.ndarray:
    synth = synthesize(text, voice=voice, rate_wpm=rate_wpm)
    if synth.sample_rate != RATE:
        raise RuntimeError(f"espeak-ng speaks at {synth.sample_rate} Hz, expected {RATE}")
    return synth.samples


def _place(out: np.ndarray, samples: np.ndarray, at: float) -> None:
    start = int(round(at * RATE))
    end = min(len(out), start + len(samples))
    out[start:end] += samples[: end - start]
