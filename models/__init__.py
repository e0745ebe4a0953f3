"""The networks, written from their equations, and the registry that builds them by name."""

from models import convlstm_heads, feedforward, pose_cnn, transformer  # noqa: F401  (registers the models)
from models.base import IOSpec, PosecastModel, TensorAxes
from models.registry import create_model, list_models, register_model

__all__ = ["IOSpec", "PosecastModel", "TensorAxes", "create_model", "list_models", "register_model"]
