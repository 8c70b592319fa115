"""Streaming features equal the offline ones, whatever the chunking and the input rate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from model.audio.features import AudioLimits, extract_features, to_model_rate
from model.audio.streaming import StreamingFeatureExtractor, StreamResampler
from model.audio.types import SAMPLE_RATE, AudioFeatures
from model.errors import AudioCorrupt, AudioTooLong

# Other rates use the offline path's FIR and alignment, so the only difference left is float32
# rounding; this is the tolerance we promise for them (natural-log mel units and dB).
OTHER_RATE_ATOL = 1e-4


def stream(x: np.ndarray, rate: int, chunk_sizes) -> AudioFeatures:
    s = StreamingFeatureExtractor(rate)
    outs, i = [], 0
    for size in chunk_sizes:
        if i >= len(x):
            break
        outs.append(s.push(x[i : i + size]))
        i += size
    assert i >= len(x)
    outs.append(s.finish())
    return AudioFeatures(np.concatenate([o.mel for o in outs]),
                         np.concatenate([o.energy for o in outs]),
                         np.concatenate([o.voiced for o in outs]))


def fixed(ms: int, rate: int):
    while True:
        yield rate * ms // 1000


def random_sizes(seed: int, high: int):
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(1, high))


def assert_same(a: AudioFeatures, b: AudioFeatures, atol: float) -> None:
    assert len(a) == len(b)
    assert np.allclose(a.mel, b.mel, atol=atol) and np.allclose(a.energy, b.energy, atol=atol)
    assert (a.voiced == b.voiced).all()


@pytest.mark.parametrize("chunks", ["10ms", "20ms", "40ms", "random"])
def test_streaming_equals_offline_at_16k(sample_speech, chunks) -> None:
    pcm, rate = sample_speech
    sizes = random_sizes(0, 1500) if chunks == "random" else fixed(int(chunks[:-2]), rate)
    assert_same(stream(pcm, rate, sizes), extract_features(pcm, rate), atol=1e-4)


@pytest.mark.parametrize("rate, up, down", [(44_100, 441, 160), (48_000, 3, 1), (8_000, 1, 2)])
def test_streaming_equals_offline_at_other_rates(sample_speech, rate, up, down) -> None:
    x = resample_poly(sample_speech[0] / 32768.0, up, down).astype(np.float32)
    offline = extract_features(x, rate)
    assert_same(stream(x, rate, fixed(20, rate)), offline, atol=OTHER_RATE_ATOL)
    assert_same(stream(x, rate, random_sizes(1, 3000)), offline, atol=OTHER_RATE_ATOL)


def test_stereo_int16_chunks(sample_speech) -> None:
    pcm, rate = sample_speech
    stereo = np.stack([pcm, pcm], axis=1)
    assert_same(stream(stereo, rate, fixed(30, rate)), extract_features(stereo, rate), atol=1e-4)


def test_stream_resampler_matches_resample_poly() -> None:
    x = np.random.default_rng(2).normal(0, 0.2, 44_100).astype(np.float32)
    r = StreamResampler(44_100)
    sizes = random_sizes(3, 900)
    parts, i = [], 0
    while i < len(x):
        n = next(sizes)
        parts.append(r.push(x[i : i + n]))
        i += n
    parts.append(r.finish())
    y = np.concatenate(parts)
    ref = to_model_rate(x, 44_100)
    assert y.shape == ref.shape == (16_000,)
    assert np.abs(y - ref).max() < 1e-5


def test_frames_are_emitted_after_bounded_look_ahead(sample_speech) -> None:
    pcm, rate = sample_speech
    s = StreamingFeatureExtractor(rate)
    assert s.lookahead_seconds <= 0.08
    look = round(s.lookahead_seconds * SAMPLE_RATE)  # 640: one frame of voice-activity look-ahead
    end_of_frame_5 = 640 * 6
    got = len(s.push(pcm[: end_of_frame_5 + look - 1]))
    assert got == 5  # frames 0..4
    assert len(s.push(pcm[end_of_frame_5 + look - 1 : end_of_frame_5 + look])) == 1  # frame 5
    assert StreamingFeatureExtractor(48_000).lookahead_seconds <= 0.08


def test_small_chunks_may_return_no_frames_and_silence_is_not_an_error() -> None:
    s = StreamingFeatureExtractor(SAMPLE_RATE)
    assert len(s.push(np.zeros(100, np.float32))) == 0
    assert len(s.push(np.zeros(0, np.float32))) == 0
    total = sum(len(s.push(np.zeros(320, np.int16))) for _ in range(20)) + len(s.finish())
    assert total == -(-(100 + 20 * 320) // 640)


def test_only_too_long_is_checked_while_streaming() -> None:
    s = StreamingFeatureExtractor(SAMPLE_RATE, AudioLimits(max_seconds=1.0))
    s.push(np.zeros(16_000, np.float32))
    with pytest.raises(AudioTooLong) as err:
        s.push(np.zeros(320, np.float32))
    assert err.value.context["max_seconds"] == 1.0


def test_bad_chunks_and_misuse() -> None:
    s = StreamingFeatureExtractor(SAMPLE_RATE)
    with pytest.raises(AudioCorrupt):
        s.push(np.array([0.0, np.nan], np.float32))
    with pytest.raises(AudioCorrupt):
        StreamingFeatureExtractor(1000)
    s.finish()
    with pytest.raises(RuntimeError):
        s.push(np.zeros(10, np.float32))


def test_long_audio_across_measure_blocks(sample_speech) -> None:
    pcm, rate = sample_speech
    x = np.tile(pcm, 8)  # ~70 s: crosses the offline path's one-minute measuring blocks
    assert_same(stream(x, rate, fixed(40, rate)), extract_features(x, rate), atol=1e-4)
