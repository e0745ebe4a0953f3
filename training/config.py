"""The training configuration: one TOML file per model, with dotted `--set key=value` overrides from the CLI."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any


@dataclass
class DataConfig:
    kind: str = "synthetic_pose"  # synthetic_pose, motion, motion_frames, moving_digits, coco, arrays, statsmodels
    num_samples: int = 2000  # generated datasets: samples before the split
    seed: int = 0  # generated datasets: the data seed (independent of the training seed)
    path: str | None = None  # coco: annotation JSON; arrays: .npz or .csv file; statsmodels: dataset name
    images: str | None = None  # coco: image folder
    input_length: int = 20  # sequences: steps or frames given to the model
    horizon: int = 10  # sequences: steps or frames to predict
    stride: int = 1  # arrays: step between windows cut from a series
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train, validation, test
    # forecasts: "window" standardizes each input window by its own level and scale inside the graph (RevIN), for
    # series that drift out of the training range; "dataset" uses train-split statistics. Default: window for
    # user series (arrays, statsmodels), dataset for generated motion.
    normalize: str | None = None
    season_length: int | None = None  # forecasts: steps per season; detected from the autocorrelation when unset
    interval_levels: list[float] = field(default_factory=lambda: [0.8, 0.95])  # conformal interval coverage
    options: dict[str, Any] = field(default_factory=dict)  # generator settings, e.g. image_size, occlusion_prob
    # synthetic_pose: augmentation of the train and validation parts (fields of training.data.augment.AugmentConfig;
    # an empty table takes its defaults); None leaves them as clean as the test part.
    augment: dict[str, Any] | None = None
    heldout_samples: int = 0  # synthetic_pose: test images from the evaluation-only renderer (heldout_style)


@dataclass
class OptimConfig:
    epochs: int = 20  # upper bound; early stopping usually ends sooner
    batch_size: int = 32  # per process
    learning_rate: float = 1e-3  # Adam's η
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's ρ1, ρ2
    weight_decay: float = 0.0
    patience: int = 5  # epochs without a validation improvement before stopping
    min_delta: float = 0.0  # an improvement smaller than this does not reset the patience
    grad_clip: float | None = 1.0  # max global gradient norm; None disables clipping
    lr_decay: float = 1.0  # multiply the learning rate by this after every epoch


@dataclass
class TrainConfig:
    name: str = "pose_cnn"  # the model's name in the repository
    model: str = "pose_cnn"  # registry name (models.list_models())
    model_args: dict[str, Any] = field(default_factory=dict)  # fields of the model's config dataclass
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0  # weights, shuffling and dropout
    output_dir: str = "runs"  # checkpoints and curves go to <output_dir>/<name>/
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    init_from: str | None = None  # checkpoint whose parameters of matching name and shape start this model
    loss: dict[str, float] = field(default_factory=dict)  # task loss settings, e.g. pose: heatmap_weight
    description: str = ""  # one line for the model card

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data)


def load_config(path: Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TOML file (or start from defaults) and apply `section.key=value` overrides in order."""
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path else {}
    for override in overrides or []:
        key, separator, raw = override.partition("=")
        if not separator:
            raise ValueError(f"override {override!r} must look like key=value, e.g. optim.epochs=3")
        target = data
        *parents, leaf = key.strip().split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = _parse_value(raw.strip())
    return TrainConfig.from_dict(data)


def _parse_value(raw: str) -> Any:
    """TOML's value syntax (numbers, booleans, lists, quoted strings); anything else is a bare string."""
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    """Instantiate nested dataclasses from dicts, rejecting unknown keys with the allowed ones listed."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}; allowed: {sorted(known)}")
    values = {}
    for name, value in data.items():
        factory = known[name].default_factory
        default = factory() if callable(factory) else None
        values[name] = _build(type(default), value) if is_dataclass(default) and isinstance(value, dict) else value
    return cls(**values)
