import numpy as np
import pytest

from training.procedural.prosody import emphasis_peaks, estimate_f0, speech_activity

SR = 16_000


def _vowel(f0: float, seconds: float) -> np.ndarray:
    """A buzzy vowel-like tone: harmonics of f0 with falling amplitude."""
    t = np.arange(int(seconds * SR)) / SR
    return sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)).astype(np.float32) * 0.2


@pytest.mark.parametrize("f0", [90.0, 150.0, 260.0])
def test_f0_of_a_steady_tone(f0: float):
    x = np.concatenate([np.zeros(SR // 2, np.float32), _vowel(f0, 1.0), np.zeros(SR // 2, np.float32)])
    est = estimate_f0(x, SR, 50)
    assert np.all(est[:10] == 0) and np.all(est[-10:] == 0)  # silence is unvoiced
    np.testing.assert_allclose(est[16:34], f0, rtol=0.03)


def test_f0_of_noise_is_unvoiced():
    x = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    assert (estimate_f0(x, SR, 25) > 0).mean() < 0.2


def test_pitch_and_loudness_peaks_are_emphasis():
    n = 100
    voiced = np.ones(n, bool)
    f0 = np.full(n, 120.0)
    energy = np.full(n, -25.0)
    for k in (20, 50, 80):
        f0[k - 2 : k + 3] = 170.0
        energy[k - 2 : k + 3] = -18.0
    peaks = emphasis_peaks(energy, voiced, f0.astype(np.float32))
    assert list(peaks.frames) == [20, 50, 80]
    assert np.all((peaks.strength >= 0.3) & (peaks.strength <= 1.0))


def test_activity_finds_pauses_and_ignores_stop_gaps():
    energy = np.full(100, -20.0)
    energy[30:32] = -80.0  # 80 ms stop closure: still speaking
    energy[60:75] = -80.0  # 600 ms pause
    act = speech_activity(energy, energy > -50)
    assert act.speaking[30:32].all() and not act.speaking[61:74].any()
    assert list(act.pause_onsets) == [60]
    assert act.level[66] < 0.2 < 0.9 < act.level[45]
