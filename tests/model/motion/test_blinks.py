import numpy as np

from model.motion.blinks import BLINK_TRAJECTORY, BlinkShaper
from model.motion.space import MOTION_DIM, Field


def _motion_with_spikes(frames: int, spikes: dict[int, float]) -> np.ndarray:
    m = np.zeros((frames, MOTION_DIM), np.float32)
    m[:, Field.BLINK_LEFT] = 0.02  # the generator's idle noise
    for t, level in spikes.items():
        m[t, Field.BLINK_RIGHT] = level
    return m


def test_a_spike_becomes_a_whole_blink_that_really_closes_both_eyes():
    out = BlinkShaper().apply(_motion_with_spikes(30, {10: 0.15}))
    for eye in (Field.BLINK_LEFT, Field.BLINK_RIGHT):
        np.testing.assert_allclose(out[10 : 10 + len(BLINK_TRAJECTORY), eye], BLINK_TRAJECTORY)
        assert out[:10, eye].max() == 0 and out[10 + len(BLINK_TRAJECTORY) :, eye].max() == 0
    assert out[:, Field.BLINK_LEFT].max() == 1.0


def test_noise_below_the_threshold_and_spikes_within_the_refractory_gap_are_ignored():
    out = BlinkShaper().apply(_motion_with_spikes(60, {5: 0.05, 20: 0.3, 29: 0.9, 50: 0.3}))
    starts = np.flatnonzero(np.diff((out[:, Field.BLINK_LEFT] > 0).astype(int)) == 1) + 1
    assert list(starts) == [20, 50]  # 5 is noise, 29 falls inside the first blink's refractory gap


def test_chunks_give_the_same_lids_as_the_whole_clip():
    motion = _motion_with_spikes(80, {7: 0.2, 30: 0.5, 61: 0.12})
    whole = BlinkShaper().apply(motion)
    shaper = BlinkShaper()
    chunked = np.concatenate([shaper.apply(motion[i : i + 3]) for i in range(0, 80, 3)])
    np.testing.assert_array_equal(chunked, whole)


def test_other_fields_pass_through():
    motion = _motion_with_spikes(20, {3: 0.4})
    motion[:, Field.JAW_OPEN] = 0.3
    out = BlinkShaper().apply(motion)
    np.testing.assert_array_equal(np.delete(out, [Field.BLINK_LEFT, Field.BLINK_RIGHT], axis=1),
                                  np.delete(motion, [Field.BLINK_LEFT, Field.BLINK_RIGHT], axis=1))
