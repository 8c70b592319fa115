"""Validation of uploaded media: what the bytes really are, and whether they are usable.

The claimed content type and file name are never trusted: the format is sniffed from the magic
bytes, and every upload is decoded fully before it is accepted.

    portrait          size -> JPEG/PNG/WebP -> header pixel count (decompression bombs) ->
                      decode -> exactly one usable face -> (128,) identity encoding
    audio             size -> an audio container -> decode (duration bounded while decoding) ->
                      speech present, not clipped
    consent document  size -> PDF (header and end marker) or a decodable image
    consent recording size -> audio/video container -> its audio decodes, holds speech, within
                      the duration limit

Refusals are ``service.errors.UploadError`` leaves (empty, too large, wrong type, corrupt,
too many pixels) or the model's own precise errors (``no_face``, ``multiple_faces``,
``audio_silent``, ``audio_too_long``...), each carrying the measured values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.audio.features import AudioLimits, extract_features
from model.errors import AudioCorrupt, ImageUnreadable
from model.face.identity import face_descriptor
from model.face.portrait import PortraitLimits, analyse_portrait
from service.db.models import AssetKind
from service.errors import (
    ImageTooManyPixels,
    UploadCorrupt,
    UploadEmpty,
    UploadTooLarge,
    UploadTypeUnsupported,
)
from service.media.audio import load_audio
from service.media.image import load_image
from service.settings import Settings

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
AUDIO_TYPES = frozenset({"audio/wav", "audio/mpeg", "audio/ogg", "audio/flac", "audio/aac",
                         "audio/mp4", "video/mp4", "video/webm"})
PDF_TAIL_BYTES = 2048  # "%%EOF" must appear this near the end of a complete PDF


@dataclass(frozen=True)
class UploadLimits:
    portrait_bytes: int
    portrait_pixels: int
    audio_bytes: int
    audio_seconds: float
    evidence_bytes: int
    evidence_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(settings.max_portrait_bytes, settings.max_portrait_pixels,
                   settings.max_audio_bytes, settings.max_audio_seconds,
                   settings.max_evidence_bytes, settings.max_evidence_seconds)


@dataclass(frozen=True)
class ValidatedUpload:
    """Bytes that passed validation, with what was measured on them.

    face_encoding: (128,) float32 dlib identity descriptor (portraits only).
    duration_seconds: decoded length (audio and recordings only).
    """

    kind: AssetKind
    data: bytes = field(repr=False)
    media_type: str
    face_encoding: np.ndarray | None = None
    duration_seconds: float | None = None


def sniff_media_type(head: bytes) -> str | None:
    """The media type the first bytes announce (None: not one we know)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "audio/mpeg"  # ID3 tag, or an MPEG layer III frame sync
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"  # EBML: WebM / Matroska
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def validate_portrait(data: bytes, limits: UploadLimits) -> ValidatedUpload:
    media_type = _check_bytes(data, limits.portrait_bytes, IMAGE_TYPES, "a portrait",
                              "JPEG, PNG or WebP")
    try:
        image = load_image(data, max_bytes=limits.portrait_bytes, max_pixels=limits.portrait_pixels)
    except ImageUnreadable as exc:
        if exc.context.get("reason") == "too_many_pixels":
            raise ImageTooManyPixels(f"{exc.message} (a decompression bomb is refused before "
                                     "decoding)", **exc.context) from exc
        raise UploadCorrupt(exc.message, media_type=media_type, **exc.context) from exc
    portrait = analyse_portrait(image, PortraitLimits(max_pixels=limits.portrait_pixels))
    encoding = face_descriptor(portrait.image, portrait.landmarks)
    return ValidatedUpload(AssetKind.PORTRAIT, data, media_type, face_encoding=encoding)


def validate_audio(data: bytes, limits: UploadLimits) -> ValidatedUpload:
    media_type = _check_bytes(data, limits.audio_bytes, AUDIO_TYPES, "audio",
                              "WAV, MP3, AAC, M4A, Ogg/Opus, FLAC or WebM")
    seconds = _check_speech(data, limits.audio_bytes, limits.audio_seconds)
    return ValidatedUpload(AssetKind.AUDIO, data, media_type, duration_seconds=seconds)


def validate_evidence(data: bytes, limits: UploadLimits) -> ValidatedUpload:
    """A signed consent form (PDF or image) or a recorded statement (audio or video)."""
    accepted = IMAGE_TYPES | AUDIO_TYPES | {"application/pdf"}
    media_type = _check_bytes(data, limits.evidence_bytes, accepted, "consent evidence",
                              "PDF, JPEG/PNG/WebP, or an audio or video recording")
    if media_type == "application/pdf":
        if b"%%EOF" not in data[-PDF_TAIL_BYTES:]:
            raise UploadCorrupt("the PDF is truncated: no %%EOF marker at its end",
                                media_type=media_type)
        return ValidatedUpload(AssetKind.CONSENT_DOCUMENT, data, media_type)
    if media_type in IMAGE_TYPES:
        try:
            load_image(data, max_bytes=limits.evidence_bytes, max_pixels=limits.portrait_pixels)
        except ImageUnreadable as exc:
            if exc.context.get("reason") == "too_many_pixels":
                raise ImageTooManyPixels(exc.message, **exc.context) from exc
            raise UploadCorrupt(exc.message, media_type=media_type, **exc.context) from exc
        return ValidatedUpload(AssetKind.CONSENT_DOCUMENT, data, media_type)
    seconds = _check_speech(data, limits.evidence_bytes, limits.evidence_seconds)
    return ValidatedUpload(AssetKind.CONSENT_RECORDING, data, media_type,
                           duration_seconds=seconds)


def _check_bytes(data: bytes, max_bytes: int, accepted: frozenset[str], what: str,
                 expected: str) -> str:
    """The sniffed media type of a non-empty upload within ``max_bytes`` of an accepted type."""
    if not data:
        raise UploadEmpty(f"{what} upload is empty (0 bytes)")
    if len(data) > max_bytes:
        raise UploadTooLarge(f"{what} upload is {len(data)} bytes; the limit is {max_bytes}",
                             size_bytes=len(data), max_bytes=max_bytes)
    detected = sniff_media_type(data[:32])
    if detected not in accepted:
        seen = f"the file is {detected}" if detected else "the file type is not recognised"
        raise UploadTypeUnsupported(f"{what} must be {expected}; {seen} (judged by its "
                                    "content, not its name or declared type)",
                                    detected=detected, accepted=sorted(accepted))
    return detected


def _check_speech(data: bytes, max_bytes: int, max_seconds: float) -> float:
    """Decode the audio (bounded) and check it holds usable speech; its duration in seconds."""
    try:
        samples, rate = load_audio(data, max_bytes=max_bytes, max_seconds=max_seconds)
    except AudioCorrupt as exc:
        raise UploadCorrupt(exc.message, **exc.context) from exc
    extract_features(samples, rate, AudioLimits(max_seconds=max_seconds))
    return samples.shape[0] / rate
