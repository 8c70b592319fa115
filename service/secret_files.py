"""Server secrets kept as files in the data directory (development and single-host setups)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def create_secret_file_once(path: Path, text: str) -> None:
    """Write ``path`` (mode 0600, directory 0700) unless it exists.

    Written to a private temporary name, then hard-linked into place: link() never replaces an
    existing name, so of two processes starting together the first writer wins, every process
    reads the same secret, and nobody ever reads a partial file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
