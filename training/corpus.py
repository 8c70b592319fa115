"""Build the synthetic motion corpus: espeak-ng speech + procedural motion targets.

    python -m training.corpus --out .corpus/synthetic --clips 2000 --seed 0

Each clip: a text in one of ~16 languages spoken by a random espeak voice variant at a random
rate and pitch, padded with silence; its procedural motion (from the clean speech, with the
clip's emotion, main gaze and head distance); and the audio condition vectors of an augmented
copy (gain, room reverb, band limit, background noise), so the model also works on real
recordings. Clip ``i`` depends only on (seed, i): the same spec gives the same corpus whatever
the number of workers. Held out (split ``eval``): every clip with a variant in
``eval_variants`` (f4 and m6; the sample speech uses en-us+f4) or a language in
``eval_languages`` (nl).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from model.audio.features import extract_features
from model.controls import EMOTIONS
from model.errors import ModelError
from training.corpus_format import Corpus
from training.espeak import EspeakError, PhonemeEvent, Synthesis, espeak_version, synthesize
from training.procedural import estimate_f0, procedural_motion
from training.texts import make_text

DEFAULT_LANGUAGES: tuple[tuple[str, float], ...] = (
    ("en-us", 0.25), ("en", 0.10), ("de", 0.06), ("fr", 0.06), ("es", 0.06), ("it", 0.05),
    ("pt", 0.05), ("nl", 0.05), ("pl", 0.05), ("sv", 0.04), ("tr", 0.04), ("fi", 0.03),
    ("cs", 0.03), ("ro", 0.03), ("hu", 0.03), ("id", 0.03),
)
DEFAULT_VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "Andy", "Annie", "Alicia", "Denis", "Michael", "klatt",
)


@dataclass(frozen=True)
class Augmentation:
    """Degradations of the audio condition (never of the motion's source), each applied with
    its probability: room reverb (exponentially decaying noise tail), a low-pass (phone or
    cheap microphone), background noise (white / pink / brown) at an SNR, then a gain."""

    reverb_probability: float = 0.3
    rt60_s: tuple[float, float] = (0.15, 0.6)
    reverb_wet: tuple[float, float] = (0.15, 0.5)
    lowpass_probability: float = 0.2
    cutoff_hz: tuple[float, float] = (2800.0, 7000.0)
    noise_probability: float = 0.6
    snr_db: tuple[float, float] = (8.0, 40.0)
    gain_db: tuple[float, float] = (-18.0, 3.0)


def augment(samples: np.ndarray, sample_rate: int, aug: Augmentation,
            rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """(n,) float32 -> (n,) float32 degraded copy (peak <= 0.99) and what was applied."""
    x = samples.astype(np.float64)
    applied: dict[str, Any] = {}
    if rng.random() < aug.reverb_probability:
        rt60, wet = rng.uniform(*aug.rt60_s), rng.uniform(*aug.reverb_wet)
        t = np.arange(int(rt60 * sample_rate)) / sample_rate
        tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
        tail *= wet / np.sqrt(np.sum(tail**2))
        x = x + fftconvolve(x, tail)[: len(x)]
        applied["reverb"] = {"rt60_s": round(rt60, 3), "wet": round(wet, 3)}
    if rng.random() < aug.lowpass_probability:
        cutoff = rng.uniform(*aug.cutoff_hz)
        x = sosfilt(butter(4, min(cutoff, 0.45 * sample_rate), fs=sample_rate, output="sos"), x)
        applied["lowpass_hz"] = round(cutoff)
    if rng.random() < aug.noise_probability:
        snr, colour = rng.uniform(*aug.snr_db), int(rng.integers(0, 3))
        noise = _coloured_noise(len(x), colour, rng)
        loud = np.abs(x) > 0.01 * np.abs(x).max()
        speech_rms = np.sqrt(np.mean(x[loud] ** 2)) if loud.any() else 0.0
        x = x + noise * speech_rms * 10.0 ** (-snr / 20.0)
        applied["noise"] = {"snr_db": round(snr, 1), "colour": ("white", "pink", "brown")[colour]}
    gain = rng.uniform(*aug.gain_db)
    x *= 10.0 ** (gain / 20.0)
    applied["gain_db"] = round(gain, 1)
    peak = np.abs(x).max()
    if peak > 0.99:
        x *= 0.99 / peak
    return x.astype(np.float32), applied


def _coloured_noise(n: int, colour: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with a 1/f^colour power spectrum (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / f ** (colour / 2.0), n)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


@dataclass(frozen=True)
class CorpusSpec:
    """What to build. Ranges are (low, high), sampled uniformly per clip.

    languages: (espeak language, weight). variants: espeak voice variants (``+name``).
    rate_wpm, pitch, pitch_range: espeak settings. emotion_weights: per ``EMOTIONS`` entry.
    gaze_std: main-gaze (x, y) spread, clipped to ``gaze_limit``. distance: head scale range.
    lead_silence, tail_silence: seconds of silence around the speech.
    """

    clips: int = 2000
    seed: int = 0
    min_seconds: float = 3.0
    max_seconds: float = 10.0
    languages: tuple[tuple[str, float], ...] = DEFAULT_LANGUAGES
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    rate_wpm: tuple[int, int] = (110, 240)
    pitch: tuple[int, int] = (20, 80)
    pitch_range: tuple[int, int] = (20, 80)
    emotion_weights: tuple[float, ...] = (0.3, 0.175, 0.175, 0.175, 0.175)
    emotion_intensity: tuple[float, float] = (0.7, 1.0)
    gaze_std: tuple[float, float] = (0.2, 0.12)
    gaze_limit: float = 0.6
    distance: tuple[float, float] = (-0.3, 0.3)
    lead_silence: tuple[float, float] = (0.05, 0.7)
    tail_silence: tuple[float, float] = (0.1, 0.8)
    augmentation: Augmentation = field(default_factory=Augmentation)
    eval_variants: tuple[str, ...] = ("f4", "m6")
    eval_languages: tuple[str, ...] = ("nl",)
    workers: int = 2

    def __post_init__(self) -> None:
        if len(self.emotion_weights) != len(EMOTIONS):
            raise ValueError(f"emotion_weights needs {len(EMOTIONS)} entries")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError("need 0 < min_seconds <= max_seconds")

    def split_of(self, language: str, variant: str) -> str:
        held_out = variant in self.eval_variants or language in self.eval_languages
        return "eval" if held_out else "train"


@dataclass(frozen=True)
class ClipData:
    """motion: (T, MOTION_DIM); audio: (T, AUDIO_DIM); emotion: index; meta: corpus.json entry."""

    motion: np.ndarray
    audio: np.ndarray
    emotion: int
    meta: dict[str, Any]


@dataclass(frozen=True)
class _Speech:
    synthesis: Synthesis
    text: str
    cropped: bool


def _speak(language: str, voice: str, rate: int, pitch: int, pitch_range: int, budget: float,
           rng: np.random.Generator) -> _Speech:
    """Speech of about ``budget`` seconds: a text sized by the rate, retried shorter or longer
    (three times at most), then cropped at the last pause (or phoneme) that fits."""
    words = max(2, int(budget * rate / 60.0 * 0.8))
    for _ in range(4):
        text = make_text(language, words, rng)
        synth = synthesize(text, voice=voice, rate_wpm=rate, pitch=pitch, pitch_range=pitch_range)
        if 0.8 * budget <= synth.duration <= budget:
            return _Speech(synth, text, False)
        words = max(2, int(words * budget / max(synth.duration, 0.1) * 0.95))
    if synth.duration <= budget:
        return _Speech(synth, text, False)
    return _Speech(_crop(synth, budget), text, True)


def _crop(synth: Synthesis, budget: float) -> Synthesis:
    fits = [p for p in synth.phonemes if p.end <= budget]
    pauses = [p for p in fits if p.symbol.startswith("_") and p.end >= 0.5 * budget]
    end = pauses[-1].end if pauses else (fits[-1].end if fits else budget)
    n = int(end * synth.sample_rate)
    samples = synth.samples[:n].copy()
    fade = min(n, int(0.02 * synth.sample_rate))
    samples[n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    phonemes = [p for p in synth.phonemes if p.end <= end]
    words = [w for w in synth.words if w.start < end]
    return Synthesis(samples, synth.sample_rate, phonemes, words)


def build_clip(spec: CorpusSpec, index: int) -> ClipData:
    """Clip ``index`` of the corpus ``spec`` describes (deterministic in seed and index).

    A draw that espeak or the feature extractor rejects (e.g. a text that came out silent) is
    redrawn from a derived seed, twice at most, so one odd draw cannot stop a long build.
    """
    key = [spec.seed, index]
    for attempt in (1, 2):
        try:
            return _draw_clip(spec, index, np.random.default_rng(key))
        except (EspeakError, ModelError):
            key = [spec.seed, index, attempt]
    return _draw_clip(spec, index, np.random.default_rng(key))


def _draw_clip(spec: CorpusSpec, index: int, rng: np.random.Generator) -> ClipData:
    languages, weights = zip(*spec.languages)
    language = str(rng.choice(languages, p=np.asarray(weights) / np.sum(weights)))
    variant = str(rng.choice(spec.variants))
    rate = int(rng.integers(spec.rate_wpm[0], spec.rate_wpm[1] + 1))
    pitch = int(rng.integers(spec.pitch[0], spec.pitch[1] + 1))
    pitch_range = int(rng.integers(spec.pitch_range[0], spec.pitch_range[1] + 1))
    total = rng.uniform(spec.min_seconds, spec.max_seconds)
    lead, tail = rng.uniform(*spec.lead_silence), rng.uniform(*spec.tail_silence)
    voice = f"{language}+{variant}"
    speech = _speak(language, voice, rate, pitch, pitch_range, max(1.0, total - lead - tail), rng)
    synth = speech.synthesis
    tail = max(tail, spec.min_seconds - lead - synth.duration)
    sr = synth.sample_rate
    clean = np.concatenate([np.zeros(int(lead * sr), np.float32), synth.samples,
                            np.zeros(int(tail * sr), np.float32)])
    shift = int(lead * sr) / sr
    phonemes = [PhonemeEvent(p.symbol, p.start + shift, p.end + shift) for p in synth.phonemes]

    emotion = int(rng.choice(len(EMOTIONS), p=np.asarray(spec.emotion_weights) / sum(spec.emotion_weights)))
    gaze = tuple(float(g) for g in np.clip(rng.normal(0.0, spec.gaze_std), -spec.gaze_limit, spec.gaze_limit))
    distance = float(rng.uniform(*spec.distance))
    intensity = float(rng.uniform(*spec.emotion_intensity))
    features = extract_features(clean, sr)
    f0 = estimate_f0(clean, sr, len(features))
    motion = procedural_motion(phonemes, features, emotion, gaze, distance, rng, f0=f0,
                               intensity=intensity)
    noisy, applied = augment(clean, sr, spec.augmentation, rng)
    audio = extract_features(noisy, sr).frame_vectors()
    meta = {
        "id": f"espeak-{spec.seed}-{index:05d}", "source": "espeak", "voice": voice,
        "language": language, "variant": variant, "rate": rate, "pitch": pitch,
        "pitch_range": pitch_range, "text": speech.text, "cropped": speech.cropped,
        "emotion": EMOTIONS[emotion], "emotion_intensity": round(intensity, 3),
        "gaze": [round(gaze[0], 4), round(gaze[1], 4)], "distance": round(distance, 4),
        "seconds": round(len(clean) / sr, 3), "frames": len(features),
        "augmentation": applied, "split": spec.split_of(language, variant),
    }
    return ClipData(motion.values, audio, emotion, meta)


def _build_indexed(job: tuple[CorpusSpec, int]) -> ClipData:
    return build_clip(*job)


def build_synthetic_corpus(
    spec: CorpusSpec, out_dir: Path | str | None, progress: Callable[[int, int, float], None] | None = None
) -> Corpus:
    """Build all ``spec.clips`` clips (``spec.workers`` processes) and save them to ``out_dir``
    (unless None). progress(done, total, audio_seconds) is called after each clip."""
    jobs = [(spec, i) for i in range(spec.clips)]
    clips: list[ClipData] = []
    audio_seconds = 0.0

    def collect(clip: ClipData) -> None:
        nonlocal audio_seconds
        clips.append(clip)
        audio_seconds += clip.meta["seconds"]
        if progress is not None:
            progress(len(clips), spec.clips, audio_seconds)

    if spec.workers <= 1 or spec.clips < 8:
        for job in jobs:
            collect(_build_indexed(job))
    else:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per worker
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with multiprocessing.get_context("spawn").Pool(spec.workers) as pool:
            for clip in pool.imap(_build_indexed, jobs, chunksize=4):
                collect(clip)
    settings = {"builder": "training.corpus", "espeak": espeak_version(),
                "spec": _jsonable(dataclasses.asdict(spec))}
    corpus = Corpus.from_clips([c.motion for c in clips], [c.audio for c in clips],
                               [c.emotion for c in clips], [c.meta for c in clips], settings)
    if out_dir is not None:
        corpus.save(Path(out_dir))
    return corpus


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _progress_line(start: float) -> Callable[[int, int, float], None]:
    last = [0.0]

    def report(done: int, total: int, audio_seconds: float) -> None:
        elapsed = time.monotonic() - start
        if done < total and elapsed - last[0] < 1.0:
            return  # one line a second is enough
        last[0] = elapsed
        rate = done / max(elapsed, 1e-9)
        eta = (total - done) / max(rate, 1e-9)
        sys.stderr.write(f"\rclips {done}/{total}  audio {audio_seconds / 60:.1f} min  "
                         f"{rate:.1f} clips/s  elapsed {elapsed:.0f} s  eta {eta:.0f} s ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="corpus directory to write")
    parser.add_argument("--clips", type=int, default=CorpusSpec.clips)
    parser.add_argument("--seed", type=int, default=CorpusSpec.seed)
    parser.add_argument("--workers", type=int, default=CorpusSpec.workers)
    args = parser.parse_args(argv)
    spec = CorpusSpec(clips=args.clips, seed=args.seed, workers=args.workers)
    start = time.monotonic()
    corpus = build_synthetic_corpus(spec, args.out, _progress_line(start))
    n_eval = len(corpus.split_indices("eval"))
    print(f"wrote {len(corpus)} clips ({len(corpus) - n_eval} train, {n_eval} eval), "
          f"{corpus.offsets[-1]} frames, to {args.out} in {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
