import json
from pathlib import Path

import pytest
import torch

from model.diffusion.checkpoint import load_motion_model, read_motion_config, save_motion_model
from model.errors import WeightsError
from tests.model.diffusion.synthetic import random_network, tiny_config


def test_round_trip_keeps_weights_statistics_and_metadata(tmp_path: Path) -> None:
    net = random_network(tiny_config())
    net.set_normalization(torch.full((16,), 0.3), torch.full((16,), 0.2), torch.ones(82), torch.ones(82))
    save_motion_model(tmp_path, net, {"steps": 7})
    loaded = load_motion_model(tmp_path)
    assert not loaded.training and loaded.config == net.config
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert read_motion_config(tmp_path)[1] == {"steps": 7}


def test_missing_files_raise_weights_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError):
        load_motion_model(tmp_path / "nowhere")
    save_motion_model(tmp_path, random_network(tiny_config()))
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(WeightsError) as err:
        load_motion_model(tmp_path)
    assert err.value.code == "weights_invalid"


def test_corrupt_weights_raise_weights_error(tmp_path: Path) -> None:
    save_motion_model(tmp_path, random_network(tiny_config()))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError):
        load_motion_model(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError):
        load_motion_model(tmp_path)


def test_weights_that_do_not_fit_the_config_raise_weights_error(tmp_path: Path) -> None:
    save_motion_model(tmp_path, random_network(tiny_config()))
    config = json.loads((tmp_path / "config.json").read_text())
    config["architecture"]["d_model"] = 48
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError) as err:
        load_motion_model(tmp_path)
    assert err.value.context["wrong_shape"]


def test_unreadable_config_raises_weights_error(tmp_path: Path) -> None:
    save_motion_model(tmp_path, random_network(tiny_config()))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(WeightsError):
        load_motion_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": 1, "architecture": {"bogus": 1}}))
    with pytest.raises(WeightsError):
        load_motion_model(tmp_path)
