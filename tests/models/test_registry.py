from __future__ import annotations

import pytest

from models import create_model, list_models


def test_registry_lists_every_family() -> None:
    assert list_models() == [
        "convlstm_forecaster",
        "convlstm_pose",
        "feedforward",
        "pose_cnn",
        "transformer_forecaster",
    ]


def test_unknown_model_names_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*pose_cnn"):
        create_model("resnet")


def test_config_fields_are_validated() -> None:
    with pytest.raises(TypeError, match="no_such_field"):
        create_model("pose_cnn", no_such_field=1)
    with pytest.raises(ValueError, match="activation must be one of"):
        create_model("feedforward", activation="gelu")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        create_model("transformer_forecaster", d_model=30, num_heads=4)
