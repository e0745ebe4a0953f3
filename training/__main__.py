"""`python -m training fit | evaluate | export`: train on built-in or your own data and fill the model repository.

python -m training fit --config configs/pose_cnn.toml --set optim.epochs=3
python -m training export --checkpoint runs/pose_cnn/best.pt --repository model_repository
python -m training evaluate --model model_repository/pose_cnn/1
torchrun --nproc_per_node 2 -m training fit --config configs/pose_cnn.toml   # DDP
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from evaluation.report import markdown_table
from models import create_model
from training.checkpoint import CHECKPOINT_NAME
from training.config import load_config
from training.evaluate import evaluate_checkpoint, evaluate_version
from training.export import export_to_repository
from training.loop import fit
from training.tasks import task_for


class _Row:
    """Adapts a headline dict to the `summary()` shape evaluation.report's table expects."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values

    def summary(self) -> dict[str, float | None]:
        return dict(self.values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit_cmd = commands.add_parser("fit", help="train a model; early stopping keeps the best checkpoint")
    fit_cmd.add_argument("--config", type=Path, help="TOML file (configs/*.toml); defaults otherwise")
    fit_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. optim.epochs=3"
    )
    fit_cmd.add_argument("--resume", type=Path, help="continue from a checkpoint (e.g. runs/NAME/last.pt)")
    fit_cmd.add_argument("--export", type=Path, metavar="REPOSITORY", help="export the best checkpoint when done")
    export_cmd = commands.add_parser("export", help="write a checkpoint into the model repository as a new version")
    export_cmd.add_argument("--checkpoint", type=Path, required=True)
    export_cmd.add_argument("--repository", type=Path, default=Path("model_repository"))
    export_cmd.add_argument("--name", help="model name in the repository (default: the config's name)")
    export_cmd.add_argument("--version", type=int, help="version number (default: the next free one)")
    eval_cmd = commands.add_parser("evaluate", help="metrics with baselines on the held-out test split")
    source = eval_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, nargs="+", help="evaluate checkpoints through torch")
    source.add_argument("--model", type=Path, nargs="+", help="evaluate repository versions through onnxruntime")
    eval_cmd.add_argument("--json", action="store_true", help="print the full metrics as JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command == "fit":
        config = load_config(args.config, args.set)
        result = fit(config, task_for(_task_of(config.model, config.model_args), config.loss), resume=args.resume)
        if args.export and int(os.environ.get("RANK", "0")) == 0:
            print(export_to_repository(result.checkpoint_path, args.export))
    elif args.command == "export":
        print(export_to_repository(args.checkpoint, args.repository, args.name, args.version))
    else:
        results = {}
        for path in args.checkpoint or args.model:
            if args.checkpoint:
                _, metrics, headline = evaluate_checkpoint(path if path.is_file() else path / CHECKPOINT_NAME)
            else:
                _, metrics, headline = evaluate_version(path)
            results[str(path)] = (metrics, headline)
        if args.json:
            print(json.dumps({path: metrics for path, (metrics, _) in results.items()}, indent=2))
        else:
            print(markdown_table({path: _Row(headline) for path, (_, headline) in results.items()}, label="model"))


def _task_of(model_name: str, model_args: dict[str, object]) -> str:
    return create_model(model_name, **model_args).io_spec().task


if __name__ == "__main__":
    main()
