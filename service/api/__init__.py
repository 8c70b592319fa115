"""The partner HTTP API (FastAPI): ``create_app(settings)`` builds it; one router per resource
in ``routes/``, dependency wiring in ``deps.py``, the one error-to-HTTP mapping in
``errors.py``, request ids and access logs in ``middleware.py``, Redis rate limits in
``ratelimit.py``, bearer tokens in ``tokens.py``."""

from service.api.app import app_from_environment, create_app

__all__ = ["app_from_environment", "create_app"]
