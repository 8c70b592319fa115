"""The release path: portrait + speech -> model -> watermark -> encode -> sign -> verify.

No frame leaves unmarked and no file leaves unsigned: frames are watermarked as they come off
the model and streamed into an MP4 beside the destination; the C2PA manifest is added last (any
remux after signing would break its hash) and only the signed file is moved into place. On any
failure every temporary file is removed, so a partial or unsigned video is never left behind.
The same ``ReleasePath`` object serves the CLI and (later) the GPU worker: it holds the loaded
model and keys, so a worker pays for loading once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from model.controls import Controls
from model.diffusion.checkpoint import DEFAULT_WEIGHTS_DIR, WEIGHTS_FILE
from model.errors import AudioCorrupt, ImageUnreadable, ModelError
from model.pipeline import TalkingHeadPipeline
from policy.provenance import (IngredientRecord, ProvenanceClaim, SigningIdentity, SoftBinding,
                               TranscriptRecord, sign_video)
from policy.watermark import ALGORITHM_ID, WatermarkEmbedder, WatermarkKey, WatermarkPayload
from service import keys
from service.errors import OutputInvalid
from service.media.audio import load_audio
from service.media.image import load_image, sniff_format
from service.media.video import EncodeSettings, Mp4Writer
from service.release.verify import VerificationReport, verify_video
from service.settings import Settings

MODEL_NAME = "likeness-motion-dit"
WATERMARK_VERSION = 1
Progress = Callable[[int, int], None]  # (frames done, frames total)


@dataclass(frozen=True)
class ModelIdentity:
    """Names the model in every manifest: which weights made this file."""

    name: str
    version: str
    weights_sha256: str

    @classmethod
    def of_weights(cls, directory: Path = DEFAULT_WEIGHTS_DIR, name: str = MODEL_NAME) -> "ModelIdentity":
        digest = hashlib.sha256((Path(directory) / WEIGHTS_FILE).read_bytes()).hexdigest()
        return cls(name, f"{Path(directory).name}-{digest[:12]}", digest)


@dataclass(frozen=True)
class GenerationRequest:
    portrait: Path
    audio: Path
    output: Path
    controls: Controls = Controls()
    # The declared transcript of ``audio`` (checked against it before this request is made):
    # its hash and language go into the manifest.
    transcript: TranscriptRecord | None = None


@dataclass
class StageSeconds:
    """Wall time per stage; model includes rendering (the pipeline interleaves them)."""

    load_inputs: float = 0.0
    model: float = 0.0
    watermark: float = 0.0
    encode: float = 0.0
    sign: float = 0.0
    verify: float = 0.0

    @property
    def total(self) -> float:
        return sum(vars(self).values())


@dataclass(frozen=True)
class ReleasedVideo:
    path: Path
    asset_id: str
    frames: int
    duration_s: float
    sha256: str
    seconds: StageSeconds = field(compare=False)
    verification: VerificationReport = field(compare=False)


class ReleasePath:
    """Holds the loaded model and the operator's keys; ``generate`` makes one released video."""

    def __init__(self, pipeline: TalkingHeadPipeline, model: ModelIdentity,
                 identity: SigningIdentity, watermark_key: WatermarkKey,
                 trust_anchors_pem: bytes | None, settings: Settings) -> None:
        self.pipeline = pipeline
        self.model = model
        self.identity = identity
        self.watermark_key = watermark_key
        self.trust_anchors_pem = trust_anchors_pem
        self.settings = settings
        self.encode_settings = EncodeSettings(crf=settings.video_crf)

    @classmethod
    def from_settings(cls, settings: Settings,
                      pipeline: TalkingHeadPipeline | None = None) -> "ReleasePath":
        """Keys first (cheap, the likeliest thing to be missing), then the model."""
        identity = keys.signing_identity(settings)
        mark_key = keys.watermark_key(settings)
        anchors = keys.trust_anchors(settings)
        if pipeline is None:
            from model.audio.features import AudioLimits
            pipeline = TalkingHeadPipeline.from_pretrained(
                audio_limits=AudioLimits(max_seconds=settings.max_audio_seconds))
        return cls(pipeline, ModelIdentity.of_weights(), identity, mark_key, anchors, settings)

    def generate(self, request: GenerationRequest, progress: Progress | None = None) -> ReleasedVideo:
        seconds = StageSeconds()
        started = time.perf_counter()
        portrait_bytes = _read(request.portrait, ImageUnreadable)
        audio_bytes = _read(request.audio, AudioCorrupt)
        image = load_image(portrait_bytes)
        samples, rate = load_audio(audio_bytes, max_seconds=self.settings.max_audio_seconds)
        frames = self.pipeline.generate(image, samples, rate, request.controls)  # validates all
        total = len(self.pipeline.features(samples, rate))  # for progress; ~1 ms per second
        output = _check_output(request.output)  # after the inputs: a rejected job leaves no dirs
        seconds.load_inputs = time.perf_counter() - started

        payload = WatermarkPayload(asset_id=secrets.randbits(56), version=WATERMARK_VERSION)
        claim = self._claim(payload, request, portrait_bytes, audio_bytes)
        unsigned = output.with_name(f".{output.name}.{payload.asset_hex}.unsigned.mp4")
        try:
            count = self._encode(frames, (samples, rate), unsigned, payload, seconds, total, progress)
            started = time.perf_counter()
            sign_video(unsigned, output, claim, self.identity)
            seconds.sign = time.perf_counter() - started
        finally:
            unsigned.unlink(missing_ok=True)
        started = time.perf_counter()
        report = verify_video(output, self.watermark_key, self.trust_anchors_pem)
        seconds.verify = time.perf_counter() - started
        return ReleasedVideo(output, payload.asset_hex, count, count / self.encode_settings.fps,
                             report.file.sha256, seconds, report)

    def _encode(self, frames, audio, path: Path, payload: WatermarkPayload,
                seconds: StageSeconds, total: int, progress: Progress | None) -> int:
        embedder = WatermarkEmbedder(self.watermark_key, payload)
        size = (512, 512)
        count = 0
        with Mp4Writer(path, size, audio, self.encode_settings) as writer:
            clock = time.perf_counter()
            for frame in frames:
                marked_at = time.perf_counter()
                marked = embedder.embed(frame)
                encoded_at = time.perf_counter()
                writer.write(marked)
                done = time.perf_counter()
                seconds.model += marked_at - clock
                seconds.watermark += encoded_at - marked_at
                seconds.encode += done - encoded_at
                count += 1
                if progress is not None:
                    progress(count, total)
                clock = time.perf_counter()
            flush_started = time.perf_counter()
        seconds.encode += time.perf_counter() - flush_started
        return count

    def _claim(self, payload: WatermarkPayload, request: GenerationRequest,
               portrait_bytes: bytes, audio_bytes: bytes) -> ProvenanceClaim:
        from importlib.metadata import version

        return ProvenanceClaim(
            asset_id=payload.asset_hex,
            title=request.output.name,
            model_name=self.model.name,
            model_version=self.model.version,
            weights_sha256=self.model.weights_sha256,
            generator=f"likeness/{version('likeness')}",
            ingredients=(
                IngredientRecord("portrait", _image_type(portrait_bytes),
                                 hashlib.sha256(portrait_bytes).hexdigest()),
                IngredientRecord("speech", _audio_type(request.audio),
                                 hashlib.sha256(audio_bytes).hexdigest()),
            ),
            soft_binding=SoftBinding(ALGORITHM_ID, payload.to_bytes()),
            transcript=request.transcript,
        )


def _check_output(path: Path) -> Path:
    """Fail before any work if the output cannot be written (a bad path costs no GPU time)."""
    if path.suffix.lower() != ".mp4":
        raise OutputInvalid(f"output must be an .mp4 file; got {path.name!r}", path=str(path))
    if path.is_dir():
        raise OutputInvalid(f"output {path} is a directory", path=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputInvalid(f"cannot create {path.parent}: {exc.strerror}", path=str(path)) from exc
    probe = path.with_name(f".{path.name}.probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OutputInvalid(f"cannot write to {path.parent}: {exc.strerror}", path=str(path)) from exc
    return path


def _read(path: Path, unreadable: type[ModelError]) -> bytes:
    """The upload's bytes (kept to hash them into the manifest); the loaders judge the content."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise unreadable(f"cannot read {path}: {exc.strerror}", reason="not_found",
                         path=str(path)) from exc


def _image_type(data: bytes) -> str:
    return {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(
        sniff_format(data[:16]) or "", "application/octet-stream")


def _audio_type(path: Path) -> str:
    return {".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
            ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac"}.get(
        path.suffix.lower(), "application/octet-stream")
