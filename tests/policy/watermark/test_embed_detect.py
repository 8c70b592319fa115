import io
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from policy.errors import FrameInvalid
from policy.watermark.detect import FP_THRESHOLD
from policy.watermark import (
    WatermarkDetector, WatermarkEmbedder, WatermarkKey, WatermarkPayload, detect_video,
)


@pytest.fixture(scope="module")
def marked(clip, key, payload):
    embedder = WatermarkEmbedder(key, payload)
    return [embedder.embed(frame) for frame in clip]


def h264_round_trip(frames, crf):
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=25, options={"crf": str(crf), "preset": "veryfast"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.time_base = "yuv420p", Fraction(1, 25)
        for frame in frames:
            box.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        box.mux(stream.encode())
    with av.open(io.BytesIO(buf.getvalue())) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


def test_embed_returns_new_frame_with_psnr_above_38(clip, marked):
    before = clip[0].copy()
    assert marked[0].shape == clip[0].shape and marked[0].dtype == np.uint8
    assert np.array_equal(clip[0], before) and marked[0] is not clip[0]
    for original, out in zip(clip, marked):
        mse = np.mean((out.astype(float) - original) ** 2)
        assert 10 * np.log10(255**2 / mse) >= 38.0
    diff = marked[0].astype(int) - clip[0]  # luma only: the same step on R, G and B
    assert np.array_equal(diff[..., 0], diff[..., 1]) or np.mean(diff[..., 0] != diff[..., 1]) < 0.02


def test_detects_payload_on_clean_frames(marked, key, payload):
    found = detect_video(marked, key)
    assert found.found and found.payload == payload
    assert found.false_positive_probability < FP_THRESHOLD and found.confidence > 0.999
    assert found.frames_used == len(marked) and found.shift == (0, 0)


def test_survives_h264_reencode(marked, key, payload):
    found = detect_video(h264_round_trip(marked, 23), key)
    assert found.found and found.payload == payload


def test_survives_crop_kept_at_cropped_size(marked, key, payload):
    cropped = [np.ascontiguousarray(f[17:-15, 23:-9]) for f in marked]
    found = detect_video(cropped, key)
    assert found.found and found.payload == payload
    assert found.shift == ((-17) % 128, (-23) % 128)


def test_survives_brightness_plus_20_percent(marked, key, payload):
    brighter = [cv2.add(f, np.full_like(f, 51)) for f in marked]
    found = detect_video(brighter, key)
    assert found.found and found.payload == payload


def test_survives_chained_crop_brightness_then_h264(marked, key, payload):
    # The chained attack in one lossy step: crop 5 % per side, +20 % brightness, then H.264.
    # CRF 23 here: this 12-frame still is the host-interference worst case (the benchmark
    # measures CRF 28 on generated clips; see reports/watermark/robustness.md).
    attacked = [cv2.add(np.ascontiguousarray(f[26:-26, 26:-26]), np.full((460, 460, 3), 51, np.uint8))
                for f in marked]
    found = detect_video(h264_round_trip(attacked, 23), key)
    assert found.found and found.payload == payload
    # The chip peak is 4 px wide: the refined grid offset may settle 1 px off; the payload counts.
    assert all(abs(s - (-26) % 128) <= 1 for s in found.shift)


def test_wrong_key_and_unmarked_find_nothing(clip, marked, key):
    other = WatermarkKey(bytes(range(1, 33)))
    for frames, k in ((marked, other), (clip, key)):
        found = detect_video(frames, k)
        assert not found.found and found.payload is None
        assert found.false_positive_probability > FP_THRESHOLD and found.confidence < 0.5


def test_streaming_detector_limits_and_empty(marked, key, payload):
    assert not WatermarkDetector(key).result().found
    found = detect_video(iter(marked), key, max_frames=4)
    assert found.frames_used == 4 and found.payload == payload


@pytest.mark.parametrize("frame", [
    np.zeros((200, 200, 3), np.float32),
    np.zeros((200, 200), np.uint8),
    np.zeros((200, 200, 4), np.uint8),
    np.zeros((100, 200, 3), np.uint8),
    [[0, 0, 0]],
])
def test_bad_frames_raise_frame_invalid(frame, key, payload):
    with pytest.raises(FrameInvalid) as err:
        WatermarkEmbedder(key, payload).embed(frame)
    assert err.value.code == "frame_invalid"
    with pytest.raises(FrameInvalid):
        WatermarkDetector(key).add_frame(frame)
