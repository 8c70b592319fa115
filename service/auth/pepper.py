"""The server-side secret ("pepper") keyed into every API-key hash.

With only HMAC-SHA256(pepper, token) in the database, a stolen database dump cannot be used to
check guessed keys offline without the pepper too, which lives outside the database: in
``LIKENESS_API_KEY_PEPPER`` (hex, from the deployment's vault) or, by default, in
``data_dir/api-key-pepper`` (created on first use, mode 0600). Replacing it invalidates every
issued key, so it is never rotated silently.
"""

from __future__ import annotations

import secrets

from service.errors import PepperInvalid
from service.secret_files import create_secret_file_once
from service.settings import Settings

MIN_PEPPER_BYTES = 32


def load_api_key_pepper(settings: Settings) -> bytes:
    """The configured pepper, else the data directory's (created if absent)."""
    if settings.api_key_pepper is not None:
        return parse_pepper(settings.api_key_pepper.get_secret_value(), "LIKENESS_API_KEY_PEPPER")
    path = settings.api_key_pepper_file
    if not path.exists():
        create_secret_file_once(path, secrets.token_hex(MIN_PEPPER_BYTES) + "\n")
    return parse_pepper(path.read_text(), str(path))


def parse_pepper(text: str, source: str) -> bytes:
    try:
        pepper = bytes.fromhex(text.strip())
    except ValueError:
        raise PepperInvalid(f"API-key pepper in {source} is not hex", source=source) from None
    if len(pepper) < MIN_PEPPER_BYTES:
        raise PepperInvalid(f"API-key pepper in {source} has {len(pepper)} bytes; "
                            f"at least {MIN_PEPPER_BYTES} are needed", source=source)
    return pepper
