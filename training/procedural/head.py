"""Head pose that follows the speech: smooth stochastic sway plus nods on emphasis.

Each angle is smooth noise (Ornstein-Uhlenbeck, then smoothed) whose amplitude follows a
speech drive: it grows with activity and loudness and falls to ~15 % in pauses, so the head
settles while the speaker is silent. Nods (chin down, + pitch) peak on emphasised syllables.
Amplitudes are those of seated speakers: sway std of a few degrees, mean frame-to-frame change
of the three angles ~0.1-0.3°.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.procedural.emotion import EmotionStyle
from training.procedural.prosody import Activity, Emphasis
from training.procedural.signals import bumps, smooth_noise

PAUSE_DRIVE = 0.15  # sway left in a pause, relative to full speech


@dataclass(frozen=True)
class AngleProcess:
    """std: radians at full drive; tau: seconds of mean reversion."""

    std: float
    tau: float


YAW = AngleProcess(0.06, 1.2)
PITCH = AngleProcess(0.04, 0.9)
ROLL = AngleProcess(0.028, 1.5)
SMOOTH_TAU = 0.12  # s: removes jitter, keeps sway
TRANSLATION_STD = (0.02, 0.015)  # tx, ty in inter-ocular units
SCALE_STD, SCALE_TAU = 0.015, 3.0


def speech_drive(activity: Activity, energy_db: np.ndarray) -> np.ndarray:
    """(T,) in [PAUSE_DRIVE, ~1.2]: activity, lifted a little by loud passages."""
    speaking = energy_db[activity.speaking]
    ref = float(np.median(speaking)) if speaking.size else -30.0
    loud = np.clip(1.0 + 0.02 * (energy_db - ref), 0.8, 1.2)
    return PAUSE_DRIVE + (1.0 - PAUSE_DRIVE) * activity.level * loud


def head_pose(
    activity: Activity,
    emphasis: Emphasis,
    energy_db: np.ndarray,
    style: EmotionStyle,
    fps: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(T, 6) yaw, pitch, roll (rad), tx, ty (inter-ocular units), scale drift (log, zero mean)."""
    n = len(energy_db)
    drive = speech_drive(activity, energy_db) * style.head_gain * rng.uniform(0.75, 1.25)
    tempo = style.head_tempo
    pose = np.zeros((n, 6))
    posture = rng.normal(0.0, [0.03, 0.02, 0.02])  # this speaker's habitual pose
    for i, proc in enumerate((YAW, PITCH, ROLL)):
        sway = smooth_noise(drive, fps, proc.tau * tempo, SMOOTH_TAU * tempo, rng)
        pose[:, i] = posture[i] + proc.std * sway
    pose[:, 1] += style.head_pitch + _nods(n, emphasis, style, fps, rng)
    # translation partly follows rotation (the neck pivots below the face)
    for i, (std, coupling) in enumerate(zip(TRANSLATION_STD, (0.25, 0.2))):  # tx~yaw, ty~pitch
        own = smooth_noise(drive, fps, 1.5 * tempo, SMOOTH_TAU * tempo, rng)
        pose[:, 3 + i] = std * own + coupling * (pose[:, i] - pose[:, i].mean())
    scale = smooth_noise(np.ones(n), fps, SCALE_TAU, 0.3, rng) * SCALE_STD
    pose[:, 5] = scale - scale.mean()
    return pose


def _nods(n: int, emphasis: Emphasis, style: EmotionStyle, fps: float,
          rng: np.random.Generator) -> np.ndarray:
    """(n,) pitch bumps (rad): most emphasised syllables get a nod, scaled by their strength."""
    keep = rng.random(len(emphasis.frames)) < 0.7
    amps = np.radians(style.nod_deg) * emphasis.strength * rng.uniform(0.6, 1.2, len(keep))
    return bumps(n, emphasis.frames[keep], amps[keep], style.nod_tau, fps)
