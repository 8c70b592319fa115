"""The release encoder writes playable faststart MP4s; the reader turns bad files into clear errors."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from service.errors import VideoUnreadable
from service.media.video import EncodeSettings, Mp4Writer, VideoReader


def _frames(count: int, size: int = 64) -> list[np.ndarray]:
    frames = []
    for i in range(count):
        frame = np.full((size, size, 3), 40 + 4 * i, np.uint8)
        frame[10:30, 5 + i : 25 + i] = (200, 60, 30)
        frames.append(frame)
    return frames


def _write(path: Path, frames: list[np.ndarray], audio: tuple[np.ndarray, int] | None) -> None:
    with Mp4Writer(path, (frames[0].shape[1], frames[0].shape[0]), audio) as writer:
        for frame in frames:
            writer.write(frame)


def _top_level_boxes(path: Path) -> list[str]:
    data, boxes, offset = path.read_bytes(), [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode())
        offset += size
    return boxes


def test_writes_h264_yuv420p_with_aac_and_index_first(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    tone = (0.2 * np.sin(np.arange(22050) * 2 * np.pi * 220 / 22050)).astype(np.float32)
    _write(path, _frames(25), (tone, 22050))

    boxes = _top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"
        assert video.frames == 25
        # One second of video, and the audio was cut/padded to end with it.
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.05)


def test_audio_shorter_than_video_is_padded(tmp_path: Path) -> None:
    path = tmp_path / "short_audio.mp4"
    _write(path, _frames(25), (np.zeros(4000, np.float32), 16000))  # 0.25 s of audio for 1 s
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.05)


def test_reader_round_trips_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    frames = _frames(10)
    _write(path, frames, None)
    with VideoReader(path) as reader:
        decoded = list(reader.frames())
        assert (reader.info.width, reader.info.height, reader.info.fps) == (64, 64, 25.0)
        assert not reader.info.has_audio and not reader.truncated
    assert len(decoded) == 10
    assert np.abs(decoded[5].astype(int) - frames[5]).mean() < 6  # CRF 20: close to the source


def test_reader_limit(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write(path, _frames(10), None)
    with VideoReader(path) as reader:
        assert len(list(reader.frames(limit=3))) == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty"), (b"hello, not a video\n" * 10, "not_a_container")],
)
def test_reader_rejects_non_videos(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoUnreadable) as caught:
        VideoReader(path)
    assert caught.value.context["reason"] == reason


def test_reader_rejects_missing_file_and_audio_only(tmp_path: Path) -> None:
    with pytest.raises(VideoUnreadable) as caught:
        VideoReader(tmp_path / "nope.mp4")
    assert caught.value.context["reason"] == "not_found"

    wav = tmp_path / "speech.mp4"
    with av.open(str(wav), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(VideoUnreadable) as caught:
        VideoReader(wav)
    assert caught.value.context["reason"] == "no_video_stream"


def test_truncated_file_yields_the_frames_before_the_break(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write(path, _frames(25), None)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 9 // 10])  # index first, so the head still parses
    with VideoReader(cut) as reader:
        frames = list(reader.frames())
        assert reader.truncated
    assert 0 < len(frames) < 25


def test_file_cut_inside_the_first_frame_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write(path, _frames(25), None)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[:300])
    with pytest.raises(VideoUnreadable) as caught:
        list(VideoReader(cut).frames())
    assert caught.value.context["reason"] in {"corrupt", "not_a_container", "no_video_stream"}


def test_writer_abort_lets_the_failure_through(tmp_path: Path) -> None:
    path = tmp_path / "aborted.mp4"
    with pytest.raises(RuntimeError, match="model died"):
        with Mp4Writer(path, (64, 64), None, EncodeSettings()) as writer:
            writer.write(_frames(1)[0])
            raise RuntimeError("model died")
