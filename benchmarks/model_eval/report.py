"""Aggregate the evaluation's figures and write them as a table with the issue's goals."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from benchmarks.model_eval.measure import ClipFigures
from model.audio.types import FPS
from service.demo import contact_sheet as labelled_sheet


def summarise(clips: list[ClipFigures]) -> dict[str, float]:
    """Means over clips (NaN-aware), plus the share of clips whose best lag is within 1 frame."""
    out = {}
    for f in fields(ClipFigures):
        values = np.array([getattr(c, f.name) for c in clips], dtype=np.float64)
        out[f.name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    lags = np.array([c.lip_sync_lag for c in clips])
    out["lag_within_1"] = float(np.mean(np.abs(lags) <= 1))
    out["rounded_over_spread"] = out["rounded_width"] / out["spread_width"]
    out["join_jerk_ratio"] = out["jerk_at_joins"] / out["jerk_elsewhere"]
    return out


def _row(name: str, goal: str, diffusion: float | str, procedural: float | str, ok: bool | None) -> str:
    def show(v):
        return v if isinstance(v, str) else ("n/a" if not np.isfinite(v) else f"{v:.3f}")
    mark = "" if ok is None else ("yes" if ok else "**no**")
    return f"| {name} | {goal} | {show(diffusion)} | {show(procedural)} | {mark} |"


def write_markdown(results: dict) -> str:
    d, p = results["summary"]["diffusion"], results["summary"]["procedural"]
    speed, seeds = results["speed"], results["seeds"]
    rows = [
        "| figure | goal | diffusion model | procedural targets | met |",
        "|---|---|---|---|---|",
        _row("lip-sync r (aperture vs envelope, best of ±15 frames)", "≥ 0.6", d["lip_sync_r"],
             p["lip_sync_r"], d["lip_sync_r"] >= 0.6),
        _row("clips with best lag within ±1 frame", "all", d["lag_within_1"], p["lag_within_1"],
             d["lag_within_1"] >= 0.99),
        _row("lip-sync r with mismatched audio", "≤ 0.2", d["mismatched_r"], p["mismatched_r"],
             d["mismatched_r"] <= 0.2),
        _row("pause frames (< -50 dBFS) with mouth closed", "≥ 0.9", d["pause_closed"],
             p["pause_closed"], d["pause_closed"] >= 0.9),
        _row("voice-inactive frames (VAD) with mouth closed", "—", d["silent_closed"],
             p["silent_closed"], None),
        _row("bilabial (p b m) frames with mouth closed", "high", d["bilabial_closed"],
             p["bilabial_closed"], None),
        _row("mouth width rounded / spread vowels", "< 1 (narrower)", d["rounded_over_spread"],
             p["rounded_over_spread"], d["rounded_over_spread"] < 0.95),
        _row("identity distance, mean (max)", "≤ 0.35",
             f"{d['identity_mean']:.3f} ({d['identity_max']:.3f})",
             f"{p['identity_mean']:.3f} ({p['identity_max']:.3f})", d["identity_mean"] <= 0.35),
        _row("blinks per minute", "10–30", d["blinks_per_min"], p["blinks_per_min"],
             10 <= d["blinks_per_min"] <= 30),
        _row("lowest eye aspect ratio (open ≈ 0.3)", "closes (< 0.15)", d["min_ear"], p["min_ear"],
             d["min_ear"] < 0.15),
        _row("head motion ΔP, °/frame", "present, ≤ targets", d["head_delta_deg"],
             p["head_delta_deg"], 0.05 < d["head_delta_deg"] <= 1.25 * p["head_delta_deg"]),
        _row("jerk at window joins / elsewhere", "≤ 1.2", d["join_jerk_ratio"], "—",
             d["join_jerk_ratio"] <= 1.2),
        _row("mouth sharpness vs portrait", "—", d["mouth_sharpness_ratio"],
             p["mouth_sharpness_ratio"], None),
        _row("flicker outside the face (grey levels/frame)", "—", d["flicker_outside"],
             p["flicker_outside"], None),
        _row("frames with a face re-detected", "1.0", d["face_found"], p["face_found"], None),
    ]
    control_rows = ["| control | commanded | measured | measure | slope | r |", "|---|---|---|---|---|---|"]
    for c in results["controls"]:
        measured = ", ".join("n/a" if v is None or not np.isfinite(v) else f"{v:.3f}" for v in c["measured"])
        commanded = ", ".join(f"{v:g}" for v in c["commanded"])
        slope = "" if not np.isfinite(c["slope"]) else f"{c['slope']:.2f}"
        r = "" if not np.isfinite(c["r"]) else f"{c['r']:.2f}"
        control_rows.append(f"| {c['name']} | {commanded} | {measured} | {c['measure']} | {slope} | {r} |")
    speed_rows = [
        "| speed (this 2-core CPU) | goal | measured |", "|---|---|---|",
        f"| motion generation + rendering, frames/s | ≥ 60 | {speed['generate_fps']:.1f} |",
        f"| motion generation alone, frames/s | — | {speed['motion_fps']:.1f} |",
        f"| rendering alone, frames/s | — | {speed['render_fps']:.1f} |",
        f"| audio features, ms per second of audio | — | {speed['features_ms_per_audio_second']:.2f} |",
        f"| portrait analysis + renderer bind, ms | — | {speed['analyse_ms']:.0f} |",
        f"| streaming: first frame after the first 40 ms chunk (real-time feed), ms | ≤ 170 | "
        f"{speed['stream_first_frame_ms']:.0f} |",
        f"| streaming: compute to first frame (chunks at once), ms | — | "
        f"{speed['stream_compute_first_frame_ms']:.0f} |",
        f"| streaming: last frame after the end of the audio, ms | — | {speed['stream_final_lag_ms']:.0f} |",
        "",
        f"Load average (1 min) at the end of the speed run: {speed.get('load_average', float('nan')):.1f} "
        "on 2 cores; wall-clock speeds fall in proportion when other work shares the CPU.",
    ]
    seed_line = (
        f"Seeds ({seeds['seeds']}): head pose differs by {seeds['head_pose_difference_deg']:.2f}° "
        f"on average between seeds, jaw by {seeds['mouth_difference']:.3f}; lip-sync r per seed "
        + ", ".join(f"{r:.2f}" for r in seeds["lip_sync_r_per_seed"]) + "."
    )
    portrait_rows = _per_portrait(results)
    n = len(results["clips"]["diffusion"])
    return "\n".join([
        f"# Motion model evaluation: `{results['weights']}`", "",
        f"{n} clips: portraits {', '.join(results['portraits'])} × held-out voices "
        f"{', '.join(u['voice'] for u in results['utterances'])}; figures re-measured on the "
        f"rendered frames (dlib landmarks), means over clips. Run time {results['minutes']:.1f} min.",
        "", *rows, "", "Per portrait (diffusion model, means over its clips):", "",
        *portrait_rows, "", seed_line, "", *control_rows, "", *speed_rows, "",
        "Contact sheets (first utterance, 17 evenly spaced frames): "
        + ", ".join(f"`sheet_{p}_{k}.jpg`" for p in results["portraits"]
                    for k in ("diffusion", "procedural")) + ".", "",
    ])


def _per_portrait(results: dict) -> list[str]:
    """One row per portrait: a portrait the renderer or dlib struggles with shows up here."""
    clips = results["clips"]["diffusion"]
    per = len(clips) // len(results["portraits"])
    keys = ("lip_sync_r", "pause_closed", "bilabial_closed", "blinks_per_min", "min_ear",
            "identity_mean")
    rows = ["| portrait | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for i, name in enumerate(results["portraits"]):
        group = clips[i * per : (i + 1) * per]
        means = []
        for key in keys:
            values = np.array([np.nan if c[key] is None else c[key] for c in group], float)
            means.append(f"{np.nanmean(values):.3f}" if np.isfinite(values).any() else "n/a")
        rows.append(f"| {name} | " + " | ".join(means) + " |")
    return rows


def contact_sheet(stills: dict[int, np.ndarray], columns: int = 6, size: int = 200) -> np.ndarray:
    """BGR grid of a clip's stills, labelled with their time."""
    return labelled_sheet([(stills[i], f"{i / FPS:.2f}s") for i in sorted(stills)], columns, size)
