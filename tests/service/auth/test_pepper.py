"""The API-key pepper: configured, or created once in the data directory with mode 0600."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.auth import load_api_key_pepper
from service.errors import PepperInvalid
from service.settings import Settings


def test_default_pepper_is_created_once_and_private(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIKENESS_API_KEY_PEPPER", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    first = load_api_key_pepper(settings)
    assert len(first) == 32
    assert load_api_key_pepper(settings) == first
    mode = stat.S_IMODE(settings.api_key_pepper_file.stat().st_mode)
    assert mode == 0o600
    assert [p.name for p in settings.data_dir.iterdir()] == ["api-key-pepper"]  # no temp left


def test_configured_pepper_wins_and_is_validated(tmp_path: Path) -> None:
    value = secrets.token_hex(40)
    settings = Settings(data_dir=tmp_path, api_key_pepper=SecretStr(value))
    assert load_api_key_pepper(settings) == bytes.fromhex(value)
    assert not settings.api_key_pepper_file.exists()
    for bad in ("zz" * 32, "ab" * 16):
        with pytest.raises(PepperInvalid):
            load_api_key_pepper(Settings(data_dir=tmp_path, api_key_pepper=SecretStr(bad)))


def test_a_short_pepper_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIKENESS_API_KEY_PEPPER", raising=False)
    settings = Settings(data_dir=tmp_path)
    settings.api_key_pepper_file.write_text("abcd\n")
    with pytest.raises(PepperInvalid, match="at least 32"):
        load_api_key_pepper(settings)
