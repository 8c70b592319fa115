"""Decoding of user-supplied media (images now; audio and video elsewhere)."""

from service.media.image import load_image

__all__ = ["load_image"]
