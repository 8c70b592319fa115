"""Procedural talking-head motion from speech: visemes, prosody-driven head, eyes, emotion."""

from training.procedural.generator import procedural_motion
from training.procedural.prosody import estimate_f0

__all__ = ["estimate_f0", "procedural_motion"]
