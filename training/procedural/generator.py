"""The procedural talking-head motion: training targets for the motion model, and the
rule-based baseline it is compared against in evaluation.

    motion = procedural_motion(synth.phonemes, features, emotion=1, gaze=(0.1, -0.05),
                               distance=0.1, rng=np.random.default_rng(0), f0=f0)

Same inputs and rng state give the same motion. Per-clip conditions hold exactly: the mean of
gaze_x/gaze_y is ``gaze`` plus the emotion's documented offset (only sad has one, eyes lower)
and the mean of ``scale`` is ``distance``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from model.audio.types import FPS, AudioFeatures
from model.motion.space import Field, MotionSequence, MOTION_DIM, clip_motion
from training.procedural import eyes, head, visemes
from training.procedural.emotion import EmotionStyle, style_for
from training.procedural.prosody import Activity, Emphasis, emphasis_peaks, speech_activity
from training.procedural.signals import bumps, smooth_noise
from training.procedural.visemes import JAW, PRESS, ROUND, WIDTH, Phoneme


def procedural_motion(
    synthesis_phonemes: Sequence[Phoneme] | None,
    features: AudioFeatures,
    emotion: int,
    gaze: tuple[float, float],
    distance: float,
    rng: np.random.Generator,
    *,
    f0: np.ndarray | None = None,
    intensity: float = 1.0,
) -> MotionSequence:
    """Motion for the T = len(features) frames of one utterance at 25 fps.

    synthesis_phonemes: time-stamped phonemes (``training.espeak.PhonemeEvent``) on the
        features' clock; None or empty falls back to a loudness-driven jaw (real recordings).
    emotion: index into ``model.controls.EMOTIONS``. gaze: main (x, y) gaze. distance: mean
        head scale (log). f0: (T,) Hz per frame, 0 unvoiced (``prosody.estimate_f0``); without
        it emphasis comes from loudness alone. intensity: 0..1 strength of the emotion offsets.
    """
    n, fps = len(features), float(FPS)
    style = style_for(emotion).scaled(intensity)
    energy, voiced = features.energy.astype(np.float64), features.voiced.astype(bool)
    activity = speech_activity(energy, voiced, fps)
    emphasis = emphasis_peaks(energy, voiced, None if f0 is None else np.asarray(f0)[:n], fps)

    values = np.zeros((n, MOTION_DIM))
    pose = head.head_pose(activity, emphasis, energy, style, fps, rng)
    values[:, Field.YAW : Field.SCALE + 1] = pose
    values[:, Field.SCALE] += distance
    values[:, [Field.JAW_OPEN, Field.LIP_WIDTH, Field.LIP_ROUND, Field.LIP_PRESS]] = _mouth(
        synthesis_phonemes, energy, voiced, style, fps)
    values[:, Field.LIP_CORNER] = _lip_corner(n, emphasis, style, fps, rng)
    values[:, [Field.BLINK_LEFT, Field.BLINK_RIGHT]] = eyes.blinks(n, activity, style, fps, rng)
    values[:, Field.BROW_RAISE] = _brows(n, emphasis, activity, style, fps, rng)
    values[:, [Field.GAZE_X, Field.GAZE_Y]] = eyes.gaze(n, gaze, style, pose, fps, rng)
    return MotionSequence(clip_motion(values), fps)


def _mouth(phonemes: Sequence[Phoneme] | None, energy: np.ndarray, voiced: np.ndarray,
           style: EmotionStyle, fps: float) -> np.ndarray:
    """(T, 4) jaw_open, lip_width, lip_round, lip_press with the emotion's shaping."""
    n = len(energy)
    if phonemes:
        mouth = visemes.mouth_from_phonemes(phonemes, n, fps)
    else:
        mouth = visemes.mouth_from_energy(energy, voiced)
    mouth[:, JAW] *= style.jaw_gain * visemes.loudness_gain(energy, voiced)
    # a resting-open jaw (surprise) still closes for bilabials: scale the offset by 1 - press
    mouth[:, JAW] += style.jaw_base * (1.0 - mouth[:, PRESS])
    mouth[:, WIDTH] += style.lip_width * (1.0 - 0.5 * mouth[:, ROUND])
    nearly_closed = np.clip(1.0 - mouth[:, JAW] / 0.2, 0.0, 1.0)
    mouth[:, PRESS] = np.maximum(mouth[:, PRESS], style.press * nearly_closed)
    return mouth


def _lip_corner(n: int, emphasis: Emphasis, style: EmotionStyle, fps: float,
                rng: np.random.Generator) -> np.ndarray:
    """(T,) baseline + slow drift; a smiling speaker's smile flashes on emphasis."""
    drift = 0.04 * smooth_noise(np.ones(n), fps, 1.5, 0.2, rng)
    flash = 0.0
    if style.lip_corner > 0.3:
        amps = 0.12 * emphasis.strength * rng.uniform(0.5, 1.0, len(emphasis.frames))
        flash = bumps(n, emphasis.frames, amps, 0.25, fps)
    return style.lip_corner + drift + flash


def _brows(n: int, emphasis: Emphasis, activity: Activity, style: EmotionStyle, fps: float,
           rng: np.random.Generator) -> np.ndarray:
    """(T,) baseline + raises (or furrows) on about 60 % of the emphasised syllables."""
    keep = rng.random(len(emphasis.frames)) < 0.6
    amps = style.brow_gain * emphasis.strength * rng.uniform(0.6, 1.0, len(keep))
    raises = bumps(n, emphasis.frames[keep], amps[keep], 0.18, fps)
    drift = 0.04 * smooth_noise(0.3 + 0.7 * activity.level, fps, 1.0, 0.15, rng)
    return style.brow + raises + drift
