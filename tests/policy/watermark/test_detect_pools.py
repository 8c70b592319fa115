"""The reliability-weighted pool: bounded per-frame slots, key-independent weights, and the
second read that recovers payloads a strong encode left mostly in a few frames."""

import math

import numpy as np
import pytest

from policy.watermark import TileAccumulator, WatermarkEmbedder, WatermarkKey, detect_video, read_tile
from policy.watermark.detect import FP_THRESHOLD, HYPOTHESES, slot_weights, weighted_tile
from policy.watermark.ecc import encode_message
from policy.watermark.pattern import KeyedTile

from .conftest import make_clip
from .test_embed_detect import h264_round_trip


def _raw_accuracy(detection, payload):
    code = 1.0 - 2.0 * encode_message(payload.to_bytes())
    return float(np.mean(np.sign(detection.soft_bits) == code))


def test_slots_stay_bounded_and_keep_every_frame():
    rng = np.random.default_rng(0)
    acc = TileAccumulator(max_slots=4)
    frames = [rng.integers(0, 256, (160, 200, 3), dtype=np.uint8) for _ in range(11)]
    for frame in frames:
        acc.add_frame(frame)
    sums, counts = acc.slots()
    assert len(sums) <= 4 and acc.frames == 11
    # Merging moves frames between slots but never loses or double-counts one.
    assert np.allclose(sums.sum(axis=0), acc.sums, atol=1e-2)
    assert np.allclose(counts.sum(axis=0), acc.counts)
    # Equal weights give back the equal pool.
    assert np.allclose(weighted_tile(sums, counts, np.ones(len(sums))), acc.folded(), atol=1e-5)


def test_weights_favour_frames_that_kept_more_detail_and_ignore_the_rest():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(128, 128)).astype(np.float32)
    scale = np.array([1.0, 1.0, 3.0, 1.0, 2.0], np.float32)  # slot 2 kept the most, then slot 4
    sums = base[None] * scale[:, None, None]
    counts = np.ones_like(sums)
    weights = slot_weights(sums, counts)
    assert np.argmax(weights) == 2 and weights[4] > 0
    assert weights[0] == weights[1] == weights[3] == 0  # at or below the median
    # Key-independent by construction: the weights see only the folded tiles.
    assert np.array_equal(weights, slot_weights(sums.copy(), counts.copy()))


def test_single_frame_or_flat_clip_has_no_weighted_pool():
    acc = TileAccumulator()
    frame = np.full((128, 128, 3), 90, np.uint8)
    acc.add_frame(frame)
    assert acc.weighted() is None
    acc.add_frame(frame)
    assert acc.weighted() is None  # equal energies: nothing above the median


@pytest.fixture(scope="module")
def longer_marked(key, payload):
    embedder = WatermarkEmbedder(key, payload)
    return [embedder.embed(frame) for frame in make_clip(24)]


def test_weighted_pool_recovers_payload_after_strong_h264(longer_marked, key, payload):
    # CRF 33 on a 24-frame still: the I-frame keeps most of the mark, the P-frames little.
    acc = TileAccumulator()
    for frame in h264_round_trip(longer_marked, 33):
        acc.add_frame(frame)
    keyed = KeyedTile.build(key)
    equal = read_tile(acc.folded(), acc.frames, keyed)
    weighted = read_tile(acc.weighted(), acc.frames, keyed)
    assert not equal.found  # the equal pool alone loses this clip...
    assert _raw_accuracy(weighted, payload) > _raw_accuracy(equal, payload) + 0.1
    assert weighted.sync_z > equal.sync_z + 1.0  # ...the weighted pool's sync stands out more
    found = detect_video(h264_round_trip(longer_marked, 33), key)
    assert found.found and found.weighted and found.payload == payload
    assert found.false_positive_probability <= FP_THRESHOLD


def test_false_positive_estimate_counts_both_pools(longer_marked, key):
    other = WatermarkKey(bytes(range(7, 39)))
    acc = TileAccumulator()
    for frame in h264_round_trip(longer_marked, 33):
        acc.add_frame(frame)
    both = read_tile(acc.folded(), acc.frames, KeyedTile.build(other), weighted=acc.weighted())
    assert not both.found and both.payload is None
    # The union bound over the two pools: HYPOTHESES x T² x Q(z) of the reported pool
    # (times 2**-16 had the CRC passed).
    p_sync = min(1.0, HYPOTHESES * 128**2 * 0.5 * math.erfc(both.sync_z / math.sqrt(2)))
    crc = 2.0**-16 if both.crc_ok else 1.0
    assert both.false_positive_probability == pytest.approx(min(1.0, p_sync * crc))
    assert both.false_positive_probability > FP_THRESHOLD
