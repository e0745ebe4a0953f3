"""`posecast`: call a running server, or import a pose model trained elsewhere into a model repository.

posecast --url http://127.0.0.1:8000 models
posecast pose photo.jpg [more.png ...] [--model NAME] [--render out.png] [--boxes '[[x, y, w, h]]'] [--flip]
posecast forecast seq.npy --horizon 10 [--model NAME]
posecast evaluate pck --annotations gt.json --results results.json
posecast evaluate mse predictions.npy targets.npy
posecast evaluate model set.zip --model NAME
posecast import model.onnx --repository model_repository --name NAME --spec spec.toml [--version N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from cli import client


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="posecast", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument("--url", default=os.environ.get("POSECAST_URL", "http://127.0.0.1:8000"), help="server base URL")
    root.add_argument("--api-key", default=os.environ.get("POSECAST_API_KEY"), help="sent as a Bearer token")
    root.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    commands = root.add_subparsers(dest="command", required=True)
    client.add_commands(commands)
    importing = commands.add_parser("import", help="add a pose ONNX graph trained elsewhere to a model repository")
    importing.add_argument("model", type=Path, help="the .onnx file")
    importing.add_argument("--repository", type=Path, required=True, help="model repository directory")
    importing.add_argument("--name", required=True, help="model name to serve it under")
    importing.add_argument("--spec", type=Path, required=True, help="TOML: input layout, output decoding, keypoints")
    importing.add_argument("--version", type=int, help="default: one past the highest existing version")
    return root


def import_command(args: argparse.Namespace) -> dict[str, Any]:
    # Imported here: the HTTP commands work without onnxruntime (a client-only install) and do not pay for it.
    from service.importer import ModelImportError, import_model

    try:
        card = import_model(args.model, args.repository, args.name, args.spec, args.version)
    except ModelImportError as exc:
        raise client.ClientError(str(exc)) from None
    path = args.repository / card.name / str(card.version)
    return {"written": str(path), "name": card.name, "version": card.version, "sha256": card.sha256}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = import_command(args) if args.command == "import" else client.call(args)
    except (client.ClientError, httpx.HTTPError, OSError, ValueError) as exc:
        print(f"posecast: {exc}", file=sys.stderr)  # the user's to fix: one line, exit status 1
        return 1
    try:
        print(json.dumps(result, indent=2), flush=True)
    except BrokenPipeError:  # the reader left early (`| head`): as other command-line tools, stop without a trace
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's last flush goes nowhere
        return 1
    return 0
