from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_config

CONFIGS = sorted(Path(__file__).parents[2].joinpath("configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load_and_name_registered_models(path: Path) -> None:
    from models import list_models

    config = load_config(path)
    assert config.name == path.stem
    assert config.model in list_models()


def test_overrides_parse_toml_values_and_nest() -> None:
    config = load_config(None, ["optim.epochs=3", "optim.grad_clip=0.5", "data.fractions=[0.6, 0.2, 0.2]", "name=x"])
    assert config.optim.epochs == 3
    assert config.optim.grad_clip == 0.5
    assert config.data.fractions == [0.6, 0.2, 0.2]
    assert config.name == "x"


def test_unknown_keys_are_rejected_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown OptimConfig keys \['epoch'\]; allowed: .*'epochs'"):
        load_config(None, ["optim.epoch=3"])
    with pytest.raises(ValueError, match="must look like key=value"):
        load_config(None, ["optim.epochs"])
