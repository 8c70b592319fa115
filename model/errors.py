"""Errors raised by the model library.

Every error the model raises for bad input derives from ``ModelError`` and carries a stable
``code`` (snake_case, used by the service's HTTP mapping and by the CLI) plus keyword context::

    ModelError
    ├── PortraitError
    │   ├── ImageUnreadable        image bytes/array cannot be decoded or have the wrong shape
    │   ├── ImageTooSmall          shorter side below the minimum
    │   ├── NoFaceFound            no face detected
    │   ├── MultipleFaces          several faces of similar size (ambiguous subject)
    │   ├── FaceTooSmall           the face is too small to animate well
    │   └── ExtremePose            head turned or tilted beyond what the renderer supports
    ├── AudioError
    │   ├── AudioEmpty             no samples
    │   ├── AudioCorrupt           NaN/inf, wrong shape or dtype, unusable sample rate
    │   ├── AudioSilent            no speech energy at all
    │   ├── AudioClipped           clipped beyond use
    │   └── AudioTooLong           longer than the configured limit
    ├── ControlError               a generation control is out of range
    └── WeightsError               checkpoint missing, corrupt or incompatible with its config
"""

from __future__ import annotations

from typing import Any


class CodedError(Exception):
    """The shape every package's error base shares (``ModelError``, ``PolicyError``,
    ``ServiceError``): a stable snake_case ``code``, a message for people, keyword context."""

    code = "error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class ModelError(CodedError):
    """Base of every model error. ``code`` is stable; ``context`` holds the measured values."""

    code = "model_error"


class PortraitError(ModelError):
    code = "portrait_invalid"


class ImageUnreadable(PortraitError):
    code = "image_unreadable"


class ImageTooSmall(PortraitError):
    code = "image_too_small"


class NoFaceFound(PortraitError):
    code = "no_face"


class MultipleFaces(PortraitError):
    code = "multiple_faces"


class FaceTooSmall(PortraitError):
    code = "face_too_small"


class ExtremePose(PortraitError):
    code = "extreme_pose"


class AudioError(ModelError):
    code = "audio_invalid"


class AudioEmpty(AudioError):
    code = "audio_empty"


class AudioCorrupt(AudioError):
    code = "audio_corrupt"


class AudioSilent(AudioError):
    code = "audio_silent"


class AudioClipped(AudioError):
    code = "audio_clipped"


class AudioTooLong(AudioError):
    code = "audio_too_long"


class ControlError(ModelError):
    code = "control_invalid"


class WeightsError(ModelError):
    code = "weights_invalid"
