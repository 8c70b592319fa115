"""Offline audio features: timeline, values, voice activity, rate independence, every error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import resample_poly

from model.audio.features import (
    FMAX, FMIN, LOG_FLOOR, AudioLimits, extract_features, features_16k, mel_filterbank,
)
from model.audio.types import AUDIO_DIM, N_MELS, SAMPLE_RATE, STEPS_PER_FRAME
from model.errors import AudioClipped, AudioCorrupt, AudioEmpty, AudioSilent, AudioTooLong

FLOOR = math.log(LOG_FLOOR)


def tone(freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --------------------------------------------------------------------------- timeline


@pytest.mark.parametrize("n", [1, 639, 640, 641, 1280, 16_000, 16_001])
def test_frame_count_is_ceil_of_40ms_frames(n: int) -> None:
    f = features_16k(np.full(n, 0.1, np.float32))
    assert len(f) == math.ceil(n / 640)
    assert f.mel.shape == (len(f), STEPS_PER_FRAME, N_MELS) and f.mel.dtype == np.float32
    assert f.energy.shape == f.voiced.shape == (len(f),)
    assert f.frame_vectors().shape == (len(f), AUDIO_DIM)


def test_sample_speech_gives_one_frame_per_40ms(sample_speech) -> None:
    pcm, rate = sample_speech
    f = extract_features(pcm, rate)
    assert len(f) == math.ceil(len(pcm) / 640) == 218


@pytest.mark.parametrize("frame, step", [(3, 0), (3, 1), (7, 0)])
def test_mel_steps_are_centred_at_160_and_480_within_the_frame(frame: int, step: int) -> None:
    x = np.zeros(640 * 10, np.float32)
    x[640 * frame + 160 + 320 * step] = 1.0  # a click at the step's centre
    mel = features_16k(x).mel.reshape(-1, N_MELS)  # steps in time order
    hit = 2 * frame + step
    assert mel[hit].min() > FLOOR + 5  # the click is in this window...
    assert np.allclose(mel[hit - 1], FLOOR) and np.allclose(mel[hit + 1], FLOOR)  # ...only


def test_energy_is_frame_rms_in_dbfs() -> None:
    x = np.concatenate([np.zeros(640, np.float32), tone(1000, 0.08, amp=1.0)])
    energy = features_16k(x).energy
    assert energy[0] == -100.0  # floor for digital silence
    assert energy[1:] == pytest.approx(-3.01, abs=0.05)  # full-scale sine


@pytest.mark.parametrize("freq", [200.0, 1000.0, 4000.0])
def test_tone_lands_in_the_mel_band_centred_on_it(freq: float) -> None:
    mel = features_16k(tone(freq, 0.4)).mel[2:-2].mean(axis=(0, 1))
    to_mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731 (HTK)
    centres = np.linspace(to_mel(FMIN), to_mel(FMAX), N_MELS + 2)[1:-1]
    assert abs(int(np.argmax(mel)) - int(np.argmin(abs(centres - to_mel(freq))))) <= 1


def test_filterbank_is_htk_triangles_without_normalisation() -> None:
    fb = mel_filterbank()
    assert fb.shape == (N_MELS, 257)
    assert fb.max(axis=1) == pytest.approx(np.ones(N_MELS), abs=0.35)  # peak ~1, not area-scaled
    freqs = np.fft.rfftfreq(512, 1 / SAMPLE_RATE)
    covered = freqs[fb.sum(axis=0) > 0]
    assert covered.min() >= FMIN and covered.max() <= FMAX


def test_no_per_utterance_normalisation(sample_speech) -> None:
    pcm, rate = sample_speech
    loud, quiet = extract_features(pcm, rate), extract_features(pcm / 32768.0 * 0.5, rate)
    m = loud.energy > -40
    assert np.allclose(loud.mel[m] - quiet.mel[m], 2 * math.log(2), atol=1e-3)  # power x4
    assert np.allclose(loud.energy[m] - quiet.energy[m], 6.02, atol=0.01)


# --------------------------------------------------------------------------- input forms


def test_int16_int32_float_and_stereo_agree(sample_speech) -> None:
    pcm, rate = sample_speech
    ref = extract_features(pcm, rate)
    as_float = pcm.astype(np.float64) / 32768.0
    for x in [as_float, (pcm.astype(np.int32) << 16), np.stack([as_float, as_float], axis=1)]:
        f = extract_features(x, rate)
        assert np.allclose(f.mel, ref.mel, atol=1e-4) and (f.voiced == ref.voiced).all()


def test_stereo_is_averaged(sample_speech) -> None:
    pcm, rate = sample_speech
    left = pcm / 32768.0
    f = extract_features(np.stack([left, np.zeros_like(left)], axis=1), rate)
    assert np.allclose(f.energy[f.voiced], extract_features(left / 2, rate).energy[f.voiced])


@pytest.mark.parametrize("rate, up, down", [(44_100, 441, 160), (48_000, 3, 1), (22_050, 441, 320)])
def test_same_speech_at_other_rates_gives_close_features(sample_speech, rate, up, down) -> None:
    pcm, _ = sample_speech
    ref = extract_features(pcm, SAMPLE_RATE)
    f = extract_features(resample_poly(pcm / 32768.0, up, down).astype(np.float32), rate)
    assert len(f) == len(ref)
    m = ref.energy > -40
    diff = np.abs(f.mel - ref.mel)[m]
    assert diff.mean() < 0.05 and diff.max() < 1.5  # natural-log units; max in the top band
    assert np.abs(f.energy - ref.energy)[m].max() < 0.5
    assert (f.voiced == ref.voiced).mean() > 0.97


# --------------------------------------------------------------------------- voice activity


@pytest.mark.espeak
def test_voice_activity_follows_speech_and_the_pause(paused_speech) -> None:
    f = extract_features(paused_speech.samples, SAMPLE_RATE)
    gap = slice(paused_speech.gap_start // 640 + 4, paused_speech.gap_end // 640 - 2)
    assert not f.voiced[gap].any()
    speech = np.ones(len(f), bool)
    speech[paused_speech.gap_start // 640 : paused_speech.gap_end // 640 + 1] = False
    loud = speech & (f.energy > -30)
    assert f.voiced[loud].mean() > 0.9
    assert f.voiced[: paused_speech.gap_start // 640].any() and f.voiced[gap.stop :].any()


def test_sample_speech_has_voice_and_pauses(sample_speech) -> None:
    f = extract_features(*sample_speech)
    assert 0.5 < f.voiced.mean() < 0.95
    edges = np.flatnonzero(np.diff(f.voiced.astype(int)))
    assert len(edges) >= 4  # at least two pauses between voiced stretches


@pytest.mark.parametrize("kind", ["white", "brown", "band"])
def test_noise_alone_is_not_speech(kind: str) -> None:
    rng = np.random.default_rng(1)
    noise = {
        "white": rng.normal(0, 0.1, 16_000 * 3),
        "brown": np.cumsum(rng.normal(0, 1, 16_000 * 3)) * 1e-3,
        "band": np.convolve(rng.normal(0, 0.1, 16_000 * 3), np.hanning(9), "same"),  # low-passed
    }[kind]
    noise = noise - noise.mean()
    with pytest.raises(AudioSilent) as err:
        extract_features(noise.astype(np.float32), SAMPLE_RATE)
    assert err.value.context["voiced_frames"] == 0 and err.value.context["peak_dbfs"] > -40


# --------------------------------------------------------------------------- errors


def test_empty_and_too_short() -> None:
    with pytest.raises(AudioEmpty):
        extract_features(np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioEmpty) as err:
        extract_features(tone(200, 0.1), SAMPLE_RATE)
    assert err.value.context == {"seconds": pytest.approx(0.1), "min_seconds": 0.2}


@pytest.mark.parametrize(
    "samples",
    [
        np.array([0.1, np.nan] * 8000, np.float32),
        np.array([0.1, np.inf] * 8000, np.float64),
        np.zeros((8000, 2, 2), np.float32),
        np.zeros((2, 48_000), np.float32),  # (channels, n): too many "channels"
        np.zeros(8000, np.complex64),
        np.zeros(8000, np.uint8),
        np.full(8000, 1000.0, np.float32),  # unscaled PCM as float
        [0.0] * 8000,
    ],
    ids=["nan", "inf", "3d", "transposed", "complex", "uint8", "unscaled", "list"],
)
def test_corrupt_samples(samples) -> None:
    with pytest.raises(AudioCorrupt):
        extract_features(samples, SAMPLE_RATE)


@pytest.mark.parametrize("rate", [4000, 200_000, 44_100.5, 0, -16_000, True, "16000"])
def test_unusable_sample_rate(rate) -> None:
    with pytest.raises(AudioCorrupt) as err:
        extract_features(tone(200, 1.0), rate)
    assert err.value.context["sample_rate"] == rate


def test_silence() -> None:
    with pytest.raises(AudioSilent) as err:
        extract_features(np.zeros(16_000, np.int16), SAMPLE_RATE)
    assert err.value.context["peak_dbfs"] == -100.0


def test_clipped_speech(sample_speech) -> None:
    x = sample_speech[0] / 32768.0
    extract_features(np.clip(x * 2, -1, 1), SAMPLE_RATE)  # mildly overdriven: still usable
    with pytest.raises(AudioClipped) as err:
        extract_features(np.clip(x * 10, -1, 1), SAMPLE_RATE)
    assert err.value.context["clipped_fraction"] > 0.05


def test_long_flat_top_is_clipped(sample_speech) -> None:
    x = sample_speech[0] / 32768.0
    x[16_000:16_400] = 1.0  # 25 ms stuck at full scale
    with pytest.raises(AudioClipped) as err:
        extract_features(x, SAMPLE_RATE)
    assert err.value.context["longest_run_ms"] == pytest.approx(25.0)


def test_too_long_is_configurable(sample_speech) -> None:
    with pytest.raises(AudioTooLong) as err:
        extract_features(*sample_speech, limits=AudioLimits(max_seconds=5.0))
    assert err.value.context == {"seconds": pytest.approx(8.71, abs=0.01), "max_seconds": 5.0}
    assert err.value.code == "audio_too_long"
