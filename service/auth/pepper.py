"""The server-side secret ("pepper") keyed into every API-key hash.

With only HMAC-SHA256(pepper, token) in the database, a stolen database dump cannot be used to
check guessed keys offline without the pepper too, which lives outside the database: in
``LIKENESS_API_KEY_PEPPER`` (hex, from the deployment's vault) or, by default, in
``data_dir/api-key-pepper`` (created on first use, mode 0600). Replacing it invalidates every
issued key, so it is never rotated silently.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from service.errors import PepperInvalid
from service.settings import Settings

MIN_PEPPER_BYTES = 32


def load_api_key_pepper(settings: Settings) -> bytes:
    """The configured pepper, else the data directory's (created if absent)."""
    if settings.api_key_pepper is not None:
        return parse_pepper(settings.api_key_pepper.get_secret_value(), "LIKENESS_API_KEY_PEPPER")
    path = settings.api_key_pepper_file
    if not path.exists():
        _create_once(path, secrets.token_hex(MIN_PEPPER_BYTES) + "\n")
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


def _create_once(path: Path, text: str) -> None:
    """Write ``path`` unless it exists; two processes starting together keep the same pepper."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        # link() fails if the name exists: the first writer wins and the file is never partial.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
