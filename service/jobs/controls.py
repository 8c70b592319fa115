"""Generation controls as JSON: strict parsing into ``model.controls.Controls`` and back.

A job stores the controls the API accepted in their full, normalised form (every field, defaults
filled in), so the worker rebuilds exactly the same ``Controls`` and the idempotency hash does
not change when a caller starts or stops sending a default. Types are checked here, not coerced:
``"steps": "4"`` or ``"blinks": 1`` is an error, not a guess.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from model.controls import Controls
from model.errors import ControlError

_DEFAULTS = Controls()


def parse_controls(raw: Mapping[str, Any]) -> Controls:
    """``Controls`` from a JSON object; ``ControlError`` names the first bad field."""
    if not isinstance(raw, Mapping):
        raise ControlError("controls must be a JSON object", field="controls")
    known = {field.name for field in dataclasses.fields(Controls)}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            raise ControlError(f"unknown control {name!r}; known: {', '.join(sorted(known))}",
                               field=str(name))
        values[name] = _typed(name, value, getattr(_DEFAULTS, name))
    return Controls(**values)  # range checks


def controls_json(controls: Controls) -> dict[str, Any]:
    """Every field, tuples as lists: what a job row stores and the request hash covers."""
    return {field.name: _plain(getattr(controls, field.name))
            for field in dataclasses.fields(Controls)}


def _typed(name: str, value: Any, default: Any) -> Any:
    # The default's type is the field's type; bool is checked first (it is an int subclass).
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if _is_number(value):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, tuple):
        if isinstance(value, list | tuple) and len(value) == len(default) and all(
                _is_number(item) for item in value):
            return tuple(float(item) for item in value)
        raise ControlError(f"{name} must be a list of {len(default)} numbers", field=name,
                           value=repr(value)[:100])
    raise ControlError(f"{name} must be a {type(default).__name__}; got "
                       f"{type(value).__name__}", field=name, value=repr(value)[:100])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
