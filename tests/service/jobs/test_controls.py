"""Controls arrive as JSON: strict types, every field stored, and the round trip is exact."""

from __future__ import annotations

import pytest

from model.controls import Controls
from model.errors import ControlError
from service.jobs import controls_json, parse_controls


def test_defaults_are_filled_in_and_round_trip():
    stored = controls_json(parse_controls({"steps": 2, "gaze": [0.1, -0.2]}))
    assert stored["steps"] == 2 and stored["gaze"] == [0.1, -0.2]
    assert stored["emotion"] == "neutral" and stored["blinks"] is True
    assert set(stored) == set(controls_json(Controls()))
    assert parse_controls(stored) == Controls(steps=2, gaze=(0.1, -0.2))


def test_integers_are_accepted_where_floats_are_expected():
    assert parse_controls({"distance": 0, "head_motion": 2}).head_motion == 2.0


@pytest.mark.parametrize(("raw", "field"), [
    ({"stepz": 4}, "stepz"),
    ({"steps": "4"}, "steps"),
    ({"steps": 4.0}, "steps"),
    ({"seed": True}, "seed"),
    ({"blinks": 1}, "blinks"),
    ({"distance": "0.1"}, "distance"),
    ({"gaze": [0.1]}, "gaze"),
    ({"gaze": [0.1, None]}, "gaze"),
    ({"emotion": 3}, "emotion"),
    ({"steps": 51}, "steps"),
    ({"emotion": "bored"}, "emotion"),
    ({"gaze": [2.0, 0.0]}, "gaze_x"),
])
def test_bad_controls_name_their_field(raw, field):
    with pytest.raises(ControlError) as caught:
        parse_controls(raw)
    assert caught.value.context["field"] == field
    assert caught.value.code == "control_invalid"


def test_controls_must_be_an_object():
    with pytest.raises(ControlError):
        parse_controls([("steps", 4)])  # type: ignore[arg-type]
