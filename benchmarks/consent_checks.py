"""Consent evidence checks: accept/reject rates per check and case, and verification time.

    python -m benchmarks.consent_checks [--quick] [--out reports/consent/checks.json]

Three parts:

1. Clips (``tests.consent_clips``): portraits x espeak-ng voices x phrase draws, each as
   genuine (the model animating the subject's photo, performing the prompts and reading the
   phrase), synthetic (the same clip carrying our watermark), wrong_person (another person's
   photo, same performance), wrong_words (the subject reading other list words) and three
   made in advance against the prompts: prompts_ignored (no turns), prompts_mistimed (each turn
   the wrong way) and prompts_swayed (no turns, the head swaying 0.2 rad side to side). Each goes
   through decode -> screening -> ``assess``; a clip counts as accepted when the decision is
   PASS. Clips are cached in ``CONSENT_CLIP_CACHE`` (default /tmp/likeness-consent-clips).
   Note what "genuine" is here: a deepfake made by our model *without* its watermark that
   performs the prompts - the stand-in for a camera recording is exactly the attack the checks
   cannot see, so its acceptance rate is also how often such a clip gets through.
2. Speech only (no rendering, many more draws): statement + phrase read by 10 espeak-ng voices,
   the phrase said, other list words said, two words missing, no phrase at all -> the spoken
   check's pass / review / fail counts.
3. Time: decode + screening + assess of one 20 s clip (median of 3), by stage.

Prints a summary and writes the figures as JSON (``reports/consent/checks.md`` quotes them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from policy.consent.evidence import (
    WORD_LIST, EvidenceClip, EvidenceThresholds, assess, screening_inputs,
)
from policy.consent.evidence.aligner import aligner
from policy.consent.evidence.challenge import tokens
from policy.consent.evidence.checks import spoken_script
from policy.consent.evidence.faces import scan_faces
from policy.consent.evidence.speech import find_phrase
from policy.watermark import WatermarkKey
from service.media.evidence import decode_evidence
from tests.consent_clips import ConsentClips, portrait_encoding
from training.espeak import synthesize

CACHE = Path(os.environ.get("CONSENT_CLIP_CACHE", "/tmp/likeness-consent-clips"))
SUBJECTS = {"obama": "biden", "obama2": "biden", "biden": "obama", "sample": "obama"}
CLIP_VOICES = ("en-us+f2", "en-us+m3", "en-gb-x-rp+m2")
CASES = ("genuine", "synthetic", "wrong_person", "wrong_words", "prompts_ignored",
         "prompts_mistimed", "prompts_swayed")
SPEECH_VOICES = ("en-us+m3", "en-us+f4", "en+m6", "en-us+f2", "en-gb-x-rp+m2", "en-us+klatt",
                 "en-us+f3", "en-029+m1", "en-gb-scotland+f1", "en-us+m7")
KEY = WatermarkKey(bytes(range(32)))


def clip_cases(quick: bool) -> dict[str, Any]:
    """Part 1: every check's verdict on every clip case."""
    subjects = list(SUBJECTS)[:2] if quick else list(SUBJECTS)
    voices = CLIP_VOICES[:1] if quick else CLIP_VOICES
    rows = []
    for subject in subjects:
        for i, voice in enumerate(voices):
            clips = ConsentClips(CACHE, subject=subject, impostor=SUBJECTS[subject],
                                 voice=voice, seed=100 + i, reuse_files=True)
            for case in CASES:
                built = "watermarked" if case == "synthetic" else case
                path = clips.path(built, watermark_key=KEY)
                decoded = decode_evidence(path)
                report = assess(decoded.clip, clips.challenge, clips.schedule,
                                references=clips.references,
                                screening=screening_inputs(path, decoded.clip.frames, KEY),
                                evidence_sha256=decoded.sha256)
                prompt_check = next(c for c in report.checks if c.name == "prompts")
                rows.append({"subject": subject, "voice": voice, "case": case,
                             "decision": report.decision.value,
                             "reasons": list(report.reason_codes),
                             "checks": {c.name: {"verdict": c.verdict.value, "score": c.score}
                                        for c in report.checks},
                             "turns": {k: prompt_check.details[k] for k in (
                                 "turn_peaks_rad", "sway_rad", "turn_needed_rad")}})
                print(f"{subject:7s} {voice:15s} {case:13s} {report.decision.value:6s} "
                      f"{','.join(report.reason_codes)}", flush=True)
    return {"rows": rows, "summary": _summarise(rows), "turns": _turn_distribution(rows)}


def _turn_distribution(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per case: each turn prompt's peak (rad, from the rest pose towards the side asked),
    the sway away from the prompts, and the peak in multiples of the sway."""
    out: dict[str, Any] = {}
    for case in CASES:
        peaks, sways, ratios = [], [], []
        for row in (r for r in rows if r["case"] == case):
            sway = row["turns"]["sway_rad"]
            sways.append(sway)
            for peak in row["turns"]["turn_peaks_rad"].values():
                if peak is not None:
                    peaks.append(peak)
                    ratios.append(peak / max(sway, 1e-3))
        if peaks:
            out[case] = {"peak_rad": _spread(peaks), "sway_rad": _spread(sways),
                         "peak_over_sway": _spread(ratios)}
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3)}


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    decisions: dict[str, Counter[str]] = defaultdict(Counter)
    checks: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for row in rows:
        decisions[row["case"]][row["decision"]] += 1
        for name, check in row["checks"].items():
            checks[row["case"]][name][check["verdict"]] += 1
    return {"decisions": {k: dict(v) for k, v in decisions.items()},
            "checks": {case: {name: dict(c) for name, c in by.items()}
                       for case, by in checks.items()}}


def face_distances(quick: bool) -> dict[str, Any]:
    """Captured (animated) faces against every reference portrait: the FA/FR trade-off."""
    same, different = [], []
    for subject in (list(SUBJECTS)[:2] if quick else list(SUBJECTS)):
        clips = ConsentClips(CACHE, subject=subject, impostor=SUBJECTS[subject],
                             voice=CLIP_VOICES[0], seed=100, reuse_files=True)
        reference = scan_faces(decode_evidence(clips.path("genuine")).clip).reference
        for portrait in ("obama", "obama2", "biden", "astronaut"):
            distance = float(np.linalg.norm(reference - portrait_encoding(portrait)))
            person = {"obama2": "obama", "sample": "astronaut"}
            (same if person.get(subject, subject) == person.get(portrait, portrait)
             else different).append(round(distance, 3))
    table = [{"threshold": t, "false_reject": float(np.mean(np.array(same) > t)),
              "false_accept": float(np.mean(np.array(different) <= t))}
             for t in (0.45, 0.5, 0.55, 0.6, 0.65)]
    return {"same_person": sorted(same), "different_people": sorted(different),
            "trade_off": table, "estimates": face_estimates(quick)}


ESTIMATES = ("current: median of 6 frames |yaw| <= 0.35", "median of 24 frames |yaw| <= 0.35",
             "median of all", "mean of all", "median of the 6 most frontal",
             "median of the 12 most frontal", "median of the 12 nearest the rest pose")


def face_estimates(quick: bool) -> dict[str, Any]:
    """Other ways to estimate the captured face: descriptors on every 3rd tracked frame of
    each subject's genuine clip and of its wrong-person clip, distance to the reference."""
    from model.evaluation.tracking import track_faces
    from model.face.identity import face_descriptor

    out: dict[str, Any] = {}
    for subject in (list(SUBJECTS)[:2] if quick else list(SUBJECTS)):
        clips = ConsentClips(CACHE, subject=subject, impostor=SUBJECTS[subject],
                             voice=CLIP_VOICES[0], seed=100, reuse_files=True)
        for case in ("genuine", "wrong_person"):
            clip = decode_evidence(clips.path(case)).clip
            track = track_faces(clip.frames, pupils=False)
            idx = np.flatnonzero(track.found)[::3]
            yaw = np.array([float(track.measurements[i].pose[0]) for i in idx])
            desc = np.stack([face_descriptor(np.ascontiguousarray(clip.frames[i]),
                                             track.landmarks[i]) for i in idx])
            ref = clips.references[0]
            out[f"{subject} {case}"] = {
                name: round(float(np.linalg.norm(_estimate(desc, yaw, name) - ref)), 3)
                for name in ESTIMATES}
    return out


def _estimate(desc: np.ndarray, yaw: np.ndarray, name: str) -> np.ndarray:
    frontal = np.flatnonzero(np.abs(yaw) <= 0.35)
    frontal = frontal if len(frontal) else np.arange(len(yaw))
    spread = {"current": 6, "median of 24": 24}
    for key, k in spread.items():
        if name.startswith(key):
            pick = frontal[np.linspace(0, len(frontal) - 1, min(k, len(frontal))).round()
                           .astype(np.int64)]
            return np.median(desc[pick], axis=0)
    if name == "median of all":
        return np.median(desc, axis=0)
    if name == "mean of all":
        return desc.mean(axis=0)
    if "most frontal" in name:
        return np.median(desc[np.argsort(np.abs(yaw))[:int(name.split()[3])]], axis=0)
    rest = np.argsort(np.abs(yaw - np.median(yaw)))[:12]
    return np.median(desc[rest], axis=0)


def speech_only(quick: bool) -> dict[str, Any]:
    """Part 2: the spoken check alone over many voices and phrase draws."""
    thresholds = EvidenceThresholds()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    per_voice: dict[str, Counter[str]] = defaultdict(Counter)
    seconds = []
    draws = 1 if quick else 3
    for voice in SPEECH_VOICES[: 4 if quick else None]:
        for draw in range(draws):
            rng = random.Random(f"{voice}-{draw}")
            phrase = tuple(rng.sample(WORD_LIST, 4))
            other = rng.sample([w for w in WORD_LIST if w not in phrase], 4)
            statement = ("I, Ada Lovelace, consent to Northwind Media making videos of my "
                         "likeness for education until the first of March, twenty "
                         "twenty-seven.")
            for case, said in (("phrase", list(phrase)), ("other_words", other),
                               ("missing_words", list(phrase[:2])), ("no_phrase", [])):
                text = statement + (f" {', '.join(said).capitalize()}." if said
                                    else " Thank you.")
                synth = synthesize(text, voice=voice, rate_wpm=rng.choice((150, 170, 190)))
                started = time.perf_counter()
                finding = find_phrase(aligner(), synth.samples, synth.sample_rate,
                                      tokens(statement), phrase)
                seconds.append((time.perf_counter() - started) / synth.duration)
                clip = EvidenceClip.from_frames([np.zeros((96, 96, 3), np.uint8)], 1.0,
                                                synth.samples, synth.sample_rate)
                verdict = spoken_script(clip, finding, phrase, thresholds).verdict.value
                counts[case][verdict] += 1
                if case == "phrase":
                    per_voice[voice][verdict] += 1
            print(f"speech {voice} draw {draw}: {dict(counts)}", flush=True)
    return {"counts": {k: dict(v) for k, v in counts.items()},
            "phrase_by_voice": {k: dict(v) for k, v in per_voice.items()},
            "seconds_per_audio_second": round(statistics.mean(seconds), 4)}


def verification_time(runs: int = 3) -> dict[str, Any]:
    """Part 3: one 20 s capture, decode -> screening -> assess."""
    clips = ConsentClips(CACHE, subject="obama", voice="en-us+f2", seed=7, duration=20.0,
                         reuse_files=True)
    path = clips.path("genuine")
    stages: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        t0 = time.perf_counter()
        decoded = decode_evidence(path)
        t1 = time.perf_counter()
        screening = screening_inputs(path, decoded.clip.frames, KEY)
        t2 = time.perf_counter()
        report = assess(decoded.clip, clips.challenge, clips.schedule,
                        references=clips.references, screening=screening,
                        evidence_sha256=decoded.sha256)
        t3 = time.perf_counter()
        for name, value in (("decode", t1 - t0), ("screening", t2 - t1), ("assess", t3 - t2),
                            ("total", t3 - t0)):
            stages[name].append(value)
    t0 = time.perf_counter()
    scan_faces(decoded.clip)
    faces = time.perf_counter() - t0
    return {"clip_seconds": clips.duration, "frames_checked": len(decoded.clip.frames),
            "decision": report.decision.value,
            "median_seconds": {k: round(statistics.median(v), 2) for k, v in stages.items()},
            "faces_seconds": round(faces, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (smoke run)")
    parser.add_argument("--out", type=Path, default=Path("reports/consent/checks.json"))
    args = parser.parse_args()
    figures = {"clips": clip_cases(args.quick), "faces": face_distances(args.quick),
               "speech": speech_only(args.quick), "time": verification_time()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({k: v for k, v in figures["clips"]["summary"].items()}, indent=1))
    print(json.dumps(figures["clips"]["turns"], indent=1))
    print(json.dumps({"faces": figures["faces"], "speech": figures["speech"],
                      "time": figures["time"]}, indent=1))


if __name__ == "__main__":
    main()
