"""Evaluation metrics on synthetic signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from model.audio.types import N_MELS, STEPS_PER_FRAME, AudioFeatures
from model.evaluation.metrics import (
    audio_envelope,
    blinks_per_minute,
    closed_mouth_share,
    control_response,
    face_mask,
    flicker_outside,
    head_motion_delta,
    join_jerk,
    lip_sync,
    sharpness,
)


def _smooth_noise(n: int, seed: int) -> np.ndarray:
    """(n,) smooth random signal in 0..1, like a speech envelope."""
    x = np.random.default_rng(seed).standard_normal(n + 8)
    x = np.convolve(x, np.hanning(7), mode="same")[4 : 4 + n]
    return (x - x.min()) / np.ptp(x)


@pytest.mark.parametrize("delay", [-6, 0, 3, 12])
def test_lip_sync_finds_the_delay_of_a_lagged_copy(delay: int) -> None:
    env = _smooth_noise(300, seed=1)
    aperture = np.roll(env, delay) * 0.4  # mouth moves `delay` frames after the sound
    r, lag = lip_sync(aperture, env)
    assert lag == delay
    assert r > 0.97


def test_lip_sync_of_mismatched_audio_is_near_chance_and_ignores_missing_faces() -> None:
    env = _smooth_noise(500, seed=2)
    other = _smooth_noise(500, seed=3)
    aperture = env.copy()
    aperture[100:120] = np.nan  # face lost for a moment
    good = lip_sync(aperture, env)
    assert good.lag == 0 and good.r > 0.99
    assert lip_sync(aperture, other).r < 0.4
    assert np.isnan(lip_sync(np.zeros(50), env[:50]).r)  # a frozen mouth has no correlation


def test_closed_mouth_share_counts_only_silent_frames() -> None:
    aperture = np.array([0.3, 0.0, 0.01, 0.2, np.nan, 0.02, 0.4])
    voiced = np.array([True, False, False, False, False, False, True])
    assert closed_mouth_share(aperture, voiced, threshold=0.05) == pytest.approx(3 / 4)
    assert np.isnan(closed_mouth_share(aperture, np.ones(7, bool)))


def test_blinks_per_minute_counts_closures_once_despite_jitter() -> None:
    fps = 25.0
    ear = np.full(int(60 * fps), 0.3)
    for start in (100, 400, 700, 1000, 1300):
        ear[start : start + 5] = 0.08
    ear[1300:1310] = [0.08, 0.2, 0.17, 0.2, 0.15, 0.2, 0.17, 0.3, 0.3, 0.3]  # reopens slowly
    rng = np.random.default_rng(0)
    noisy = ear + rng.normal(0, 0.005, ear.shape)
    stats = blinks_per_minute(noisy, ear, fps)
    assert stats.count == 5
    assert stats.per_minute == pytest.approx(5.0)
    assert stats.min_ear < 0.1
    assert stats.open_ear == pytest.approx(0.3, abs=0.01)
    assert blinks_per_minute(np.full(250, 0.3), np.full(250, 0.3), fps).count == 0


def test_head_motion_delta_is_degrees_per_frame_over_the_three_angles() -> None:
    t = np.arange(50)
    poses = np.zeros((50, 3))
    poses[:, 0] = np.radians(0.6) * t  # yaw turns 0.6° a frame, pitch and roll still
    assert head_motion_delta(poses) == pytest.approx(0.2)
    poses[10] = np.nan  # a frame with no face drops its two differences
    assert head_motion_delta(poses) == pytest.approx(0.2)
    assert head_motion_delta(np.zeros((30, 3))) == 0.0


def test_join_jerk_shows_a_seam_between_windows() -> None:
    t = np.arange(200, dtype=float)
    smooth = np.sin(t / 15.0)
    seamed = smooth.copy()
    seamed[100:] += 0.3  # a jump where the second window starts
    seam = join_jerk(seamed, [100])
    assert seam.at_joins > 50 * seam.elsewhere
    quadratic = join_jerk(np.stack([t**2, 2 * t], axis=1), [50, 100])
    assert quadratic.at_joins == pytest.approx(0.0, abs=1e-6)
    assert quadratic.elsewhere == pytest.approx(0.0, abs=1e-6)


def test_sharpness_drops_with_blur() -> None:
    import cv2

    rng = np.random.default_rng(0)
    texture = (rng.random((64, 64)) * 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(texture, (9, 9), 3)
    assert sharpness(texture) > 10 * sharpness(blurred)
    assert sharpness(np.full((32, 32), 80, np.uint8)) == 0.0


def test_flicker_outside_ignores_the_face() -> None:
    rng = np.random.default_rng(0)
    frames = np.full((5, 32, 32, 3), 100, np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    frames[:, 8:24, 8:24] = rng.integers(0, 255, (5, 16, 16, 3))  # the face talks
    assert flicker_outside(frames, mask) == 0.0
    frames[1::2, ~mask] += 10  # the background pumps by 10 grey levels every frame
    assert flicker_outside(frames, mask) == pytest.approx(10.0)
    per_frame = np.broadcast_to(mask, (5, 32, 32))
    assert flicker_outside(frames, per_frame) == pytest.approx(10.0)


def test_face_mask_covers_the_face_and_the_forehead() -> None:
    from tests.model.evaluation.face_frames import detect_landmarks, face_frame

    lm = detect_landmarks(face_frame("obama"), upsample=0)
    mask = face_mask(lm, (512, 512))
    nose, brow = lm[30].astype(int), lm[19].astype(int)
    iod = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
    assert mask[nose[1], nose[0]] and mask[int(brow[1] - 0.4 * iod), brow[0]]
    assert not mask[5, 5] and not mask[500, 500]
    assert 0.1 < mask.mean() < 0.4


def test_control_response_recovers_a_linear_response() -> None:
    commanded = np.linspace(-1, 1, 9)
    fit = control_response(commanded, 0.5 * commanded + 0.1)
    assert fit.slope == pytest.approx(0.5) and fit.intercept == pytest.approx(0.1)
    assert fit.r == pytest.approx(1.0)
    ignored = control_response(commanded, np.full(9, 0.2))
    assert ignored.slope == pytest.approx(0.0, abs=1e-9) and np.isnan(ignored.r)
    assert np.isnan(control_response(np.zeros(5), np.arange(5)).slope)


def test_audio_envelope_maps_dbfs_to_unit_range() -> None:
    energy = np.array([-100.0, -60.0, -30.0, 0.0, 3.0], np.float32)
    assert audio_envelope(energy) == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    mel = np.zeros((5, STEPS_PER_FRAME, N_MELS), np.float32)
    features = AudioFeatures(mel=mel, energy=energy, voiced=np.zeros(5, bool))
    assert audio_envelope(features) == pytest.approx(audio_envelope(energy))
