"""The release path shared by every way a video leaves the system (CLI today, workers next):
``ReleasePath.generate`` (model -> watermark -> encode -> sign -> verify) and ``verify_video``."""

from service.release.generate import (GenerationRequest, ModelIdentity, ReleasedVideo, ReleasePath,
                                      StageSeconds)
from service.release.verify import VerificationReport, verdict, verify_video

__all__ = [
    "GenerationRequest", "ModelIdentity", "ReleasePath", "ReleasedVideo", "StageSeconds",
    "VerificationReport", "verdict", "verify_video",
]
