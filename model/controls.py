"""Generation controls: what a caller may ask of the model besides portrait and audio."""

from __future__ import annotations

from dataclasses import dataclass

from model.errors import ControlError

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")


@dataclass(frozen=True)
class Controls:
    """Controls for one generation.

    seed: seeds the diffusion noise; same inputs + seed -> same frames.
    emotion: one of ``EMOTIONS``, a classifier-free-guidance condition of the motion model.
    gaze: main gaze direction (gaze_x, gaze_y) in motion-space units, each in [-1, 1].
    distance: head distance offset (log scale, + closer), in [-0.3, 0.3].
    audio_guidance, gaze_guidance: classifier-free guidance scales (VASA-1: 0.5 and 1.0).
    steps: sampler steps (1..50).
    head_motion: amplitude dial for head pose (0 = still head, 1 = as generated, up to 2).
    expression: amplitude dial for brows, lip corners and gaze movement (0..2).
    blinks: keep generated blinks (False keeps eyes open).
    """

    seed: int = 0
    emotion: str = "neutral"
    gaze: tuple[float, float] = (0.0, 0.0)
    distance: float = 0.0
    audio_guidance: float = 0.5
    gaze_guidance: float = 1.0
    steps: int = 8
    head_motion: float = 1.0
    expression: float = 1.0
    blinks: bool = True

    def __post_init__(self) -> None:
        if self.emotion not in EMOTIONS:
            raise ControlError(
                f"emotion must be one of {', '.join(EMOTIONS)}; got {self.emotion!r}",
                field="emotion",
                value=self.emotion,
            )
        _check_range("gaze_x", self.gaze[0], -1.0, 1.0)
        _check_range("gaze_y", self.gaze[1], -1.0, 1.0)
        _check_range("distance", self.distance, -0.3, 0.3)
        _check_range("audio_guidance", self.audio_guidance, 0.0, 5.0)
        _check_range("gaze_guidance", self.gaze_guidance, 0.0, 5.0)
        _check_range("steps", self.steps, 1, 50)
        _check_range("head_motion", self.head_motion, 0.0, 2.0)
        _check_range("expression", self.expression, 0.0, 2.0)
        if not isinstance(self.seed, int) or self.seed < 0 or self.seed >= 2**63:
            raise ControlError("seed must be an integer in [0, 2**63)", field="seed", value=self.seed)

    @property
    def emotion_index(self) -> int:
        return EMOTIONS.index(self.emotion)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):  # also rejects NaN
        raise ControlError(
            f"{name} must be between {low} and {high}; got {value}", field=name, value=value
        )
