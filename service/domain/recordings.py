"""Consent recordings at the door: is this upload a usable camera-and-microphone clip?

Checked on the bytes before anything is stored, cheaply (the full decode and the evidence
checks run later, in a worker):

    size -> WebM or MP4 by its magic bytes -> the container opens -> one video and one audio
    stream -> the packets' timestamps give the real duration (a browser's WebM carries none in
    its header; a header that claims hours is not believed either) -> the first video frame
    and the first audio frame decode

Refusals are ``UploadError`` leaves: ``upload_empty``, ``upload_too_large``,
``upload_type_unsupported``, ``upload_corrupt``, ``recording_stream_missing``,
``recording_too_short``, ``recording_too_long``; each carries what was measured.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import av

from service.db.models import AssetKind
from service.domain.uploads import ValidatedUpload, sniff_media_type
from service.errors import (
    RecordingStreamMissing,
    RecordingTooLong,
    RecordingTooShort,
    UploadCorrupt,
    UploadEmpty,
    UploadTooLarge,
    UploadTypeUnsupported,
)
from service.settings import Settings

RECORDING_TYPES = frozenset({"video/webm", "video/mp4"})
MAX_FRAME_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class RecordingLimits:
    max_bytes: int
    min_seconds: float
    max_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordingLimits:
        return cls(settings.max_capture_bytes, settings.min_capture_seconds,
                   settings.max_capture_seconds)


@dataclass(frozen=True)
class ValidatedRecording:
    """A clip that passed the door checks. ``duration_seconds`` from the packets' timestamps."""

    data: bytes = field(repr=False)
    media_type: str
    duration_seconds: float
    width: int
    height: int

    def as_upload(self) -> ValidatedUpload:
        return ValidatedUpload(AssetKind.CONSENT_RECORDING, self.data, self.media_type,
                               duration_seconds=self.duration_seconds)


def validate_recording(data: bytes, limits: RecordingLimits) -> ValidatedRecording:
    if not data:
        raise UploadEmpty("the recording is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise UploadTooLarge(f"the recording is {len(data)} bytes; the limit is "
                             f"{limits.max_bytes}", size_bytes=len(data),
                             max_bytes=limits.max_bytes)
    media_type = sniff_media_type(data[:32])
    if media_type not in RECORDING_TYPES:
        seen = f"the file is {media_type}" if media_type else "the file type is not recognised"
        raise UploadTypeUnsupported(f"a consent recording must be WebM or MP4 video with sound; "
                                    f"{seen} (judged by its content, not its name)",
                                    detected=media_type, accepted=sorted(RECORDING_TYPES))
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            width, height = _streams(container)
            duration = _duration(container, limits.max_seconds)
        for kind in ("video", "audio"):  # a fresh read each: browser WebM has no index to seek
            with av.open(io.BytesIO(data), mode="r") as container:
                _first_frame_decodes(container, kind)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise UploadCorrupt(f"the recording does not decode: {exc}", media_type=media_type,
                            reason="corrupt") from exc
    if duration < limits.min_seconds:
        raise RecordingTooShort(f"the recording lasts {duration:.1f} s; at least "
                                f"{limits.min_seconds:g} s are needed", seconds=duration,
                                min_seconds=limits.min_seconds)
    return ValidatedRecording(data, media_type, duration, width, height)


def _streams(container: av.container.InputContainer) -> tuple[int, int]:
    if not container.streams.video or not container.streams.audio:
        missing = "video" if not container.streams.video else "audio"
        raise RecordingStreamMissing(f"the recording has no {missing} stream: consent evidence "
                                     "needs both camera and microphone", missing=missing)
    context = container.streams.video[0].codec_context
    width, height = context.width, context.height
    if width <= 0 or height <= 0 or width * height > MAX_FRAME_PIXELS:
        raise UploadCorrupt(f"video frame size {width}x{height} is not supported",
                            reason="unsupported_size", width=width, height=height)
    return width, height


def _duration(container: av.container.InputContainer, max_seconds: float) -> float:
    """The end of the last packet, read without decoding; stops as soon as it exceeds the
    limit (so an absurdly long clip costs no more than a long one)."""
    end = 0.0
    for packet in container.demux(*container.streams.video, *container.streams.audio):
        if packet.pts is None or packet.time_base is None:
            continue
        stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        end = max(end, stop)
        if end > max_seconds:
            raise RecordingTooLong(f"the recording lasts more than {max_seconds:g} s (the "
                                   "limit)", max_seconds=max_seconds, seconds_at_least=end)
    return end


def _first_frame_decodes(container: av.container.InputContainer, kind: str) -> None:
    stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
    for _frame in container.decode(stream):
        return
    raise UploadCorrupt(f"the recording's {kind} stream holds no decodable frame",
                        reason="no_frames", stream=kind)
