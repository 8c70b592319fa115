"""Decode uploaded audio (any container PyAV/FFmpeg reads) to mono float32 samples.

Resampling to the model rate is the model's job (``model.audio.features``); here we only
decode, downmix by averaging channels (FFmpeg's own mono downmix would scale by -3 dB) and
bound what an upload may cost.
"""

from __future__ import annotations

import io
import pathlib

import av
import numpy as np

from model.errors import AudioCorrupt, AudioEmpty, AudioTooLong

MAX_AUDIO_BYTES = 100 * 1024 * 1024
MAX_DECODED_SECONDS = 3600.0  # guards memory: a small opus file can hold hours of audio


def _open(data: bytes | pathlib.Path, max_bytes: int) -> av.container.InputContainer:
    if isinstance(data, pathlib.Path):
        if not data.is_file():
            raise AudioCorrupt(f"audio file not found: {data}", path=str(data))
        size = data.stat().st_size
        source: object = str(data)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        size = len(data)
        source = io.BytesIO(bytes(data))
    else:
        raise AudioCorrupt("audio must be bytes or a path", type=type(data).__name__)
    if size > max_bytes:
        raise AudioCorrupt(f"audio is {size} bytes; the limit is {max_bytes}",
                           size_bytes=size, max_bytes=max_bytes)
    if size == 0:
        raise AudioEmpty("audio upload is empty", size_bytes=0)
    try:
        return av.open(source, mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioCorrupt(f"audio cannot be decoded: {exc}", size_bytes=size) from exc


def _decode(container: av.container.InputContainer, max_seconds: float) -> tuple[np.ndarray, int]:
    if not container.streams.audio:
        raise AudioCorrupt("the file has no audio stream",
                           streams=[s.type for s in container.streams])
    stream = container.streams.audio[0]
    rate = int(stream.codec_context.sample_rate or 0)
    # Keep rate and layout, make it planar float: (channels, n) per decoded frame.
    resampler = av.AudioResampler(format="fltp")
    chunks: list[np.ndarray] = []
    total = 0
    for frame in container.decode(stream):
        rate = rate or int(frame.sample_rate)
        for out in resampler.resample(frame):
            planes = out.to_ndarray()
            chunks.append(planes.mean(axis=0, dtype=np.float32))
            total += planes.shape[1]
        if rate and total / rate > max_seconds:
            raise AudioTooLong(f"decoded audio passed {max_seconds:g} s",
                               seconds=total / rate, max_seconds=max_seconds)
    for out in resampler.resample(None):
        planes = out.to_ndarray()
        chunks.append(planes.mean(axis=0, dtype=np.float32))
    if not chunks or rate <= 0:
        raise AudioEmpty("the audio stream decodes to no samples", sample_rate=rate)
    return np.concatenate(chunks).astype(np.float32, copy=False), rate


def load_audio(
    data: bytes | pathlib.Path,
    max_bytes: int = MAX_AUDIO_BYTES,
    max_seconds: float = MAX_DECODED_SECONDS,
) -> tuple[np.ndarray, int]:
    """Decode wav/mp3/m4a/aac/ogg/opus/flac/webm/... -> ((n,) float32 mono, sample rate).

    Raises AudioCorrupt (undecodable, no audio stream, over ``max_bytes``), AudioEmpty (no
    bytes or no samples) and AudioTooLong (decoded past ``max_seconds``).
    """
    container = _open(data, max_bytes)
    try:
        samples, rate = _decode(container, max_seconds)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioCorrupt(f"audio cannot be decoded: {exc}") from exc
    finally:
        container.close()
    return samples, rate
