"""load_audio decodes common containers from memory or disk and rejects what it cannot."""

from __future__ import annotations

import io
import pathlib
import wave

import av
import numpy as np
import pytest

from model.errors import AudioCorrupt, AudioEmpty, AudioTooLong
from service.media.audio import load_audio

SAMPLE_WAV = pathlib.Path(__file__).parents[3] / "assets" / "samples" / "speech.wav"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    with wave.open(str(SAMPLE_WAV)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768


def encode(x: np.ndarray, fmt: str, codec: str, rate: int, layout: str = "mono") -> bytes:
    """(n,) or (channels, n) float32 at ``rate`` -> an in-memory file made with PyAV."""
    buf = io.BytesIO()
    planes = np.atleast_2d(x).astype(np.float32)
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
        frame.sample_rate = rate
        ctx = stream.codec_context
        resampler = av.AudioResampler(format=ctx.format.name, layout=layout, rate=rate,
                                      frame_size=ctx.frame_size or None)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, codec",
    [("wav", "pcm_s16le"), ("ogg", "libopus"), ("mp3", "libmp3lame"), ("flac", "flac"),
     ("mp4", "aac"), ("webm", "libopus")],
)
def test_decodes_common_formats_from_memory(speech, fmt, codec) -> None:
    rate = 48_000 if codec == "libopus" else 16_000
    x = np.interp(np.arange(len(speech) * rate // 16_000) * 16_000 / rate,
                  np.arange(len(speech)), speech).astype(np.float32)
    samples, got_rate = load_audio(encode(x, fmt, codec, rate))
    assert got_rate == rate and samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - len(x)) < 0.2 * rate  # codec priming / padding only (aac: 0.12 s)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    assert rms(samples) == pytest.approx(rms(x), rel=0.15)


def test_wav_from_path_is_exact(speech, tmp_path) -> None:
    path = tmp_path / "speech.wav"
    path.write_bytes(encode(speech, "wav", "pcm_s16le", 16_000))
    samples, rate = load_audio(path)
    assert rate == 16_000
    assert np.abs(samples - speech).max() <= 1 / 32768


def test_stereo_is_averaged_to_mono(speech) -> None:
    stereo = np.stack([speech, np.zeros_like(speech)])
    samples, _ = load_audio(encode(stereo, "wav", "pcm_s16le", 16_000, layout="stereo"))
    assert np.abs(samples - speech / 2).max() <= 1 / 32768


@pytest.mark.parametrize(
    "data", [b"\x00garbage" * 100, b"RIFF\x00\x00\x00\x00WAVEfmt ", b"ID3" + b"\x00" * 500],
    ids=["garbage", "truncated-wav-header", "empty-mp3-tag"],
)
def test_undecodable_bytes(data: bytes) -> None:
    with pytest.raises(AudioCorrupt, match="cannot be decoded") as err:
        load_audio(data)
    assert err.value.code == "audio_corrupt" and err.value.context["size_bytes"] == len(data)


def test_empty_and_too_big(speech) -> None:
    with pytest.raises(AudioEmpty):
        load_audio(b"")
    data = encode(speech, "wav", "pcm_s16le", 16_000)
    with pytest.raises(AudioCorrupt) as err:
        load_audio(data, max_bytes=1000)
    assert err.value.context == {"size_bytes": len(data), "max_bytes": 1000}
    with pytest.raises(AudioTooLong):
        load_audio(data, max_seconds=2.0)


def test_video_without_audio_stream() -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(3):
            pixels = np.full((64, 64, 3), 40 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(AudioCorrupt, match="no audio stream"):
        load_audio(buf.getvalue())


def test_missing_path(tmp_path) -> None:
    with pytest.raises(AudioCorrupt):
        load_audio(tmp_path / "nope.wav")
