#!/usr/bin/env bash
# What `python -m benchmarks.peers` needs beyond the project's virtualenv, installed once so that a benchmark run
# downloads nothing: the `hey` load generator (a Go binary: it does not compete with the servers for the GIL and
# costs far less CPU than a Python client on a 2-core machine) and a separate virtualenv with PyTriton, whose
# numpy<2 pin cannot share the project's environment. Idempotent: each step is skipped when already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
PYTRITON_VENV="${PYTRITON_VENV:-$ROOT/benchmarks/.pytriton-venv}"
PYTRITON_VERSION="0.7.0"
# The servers and the raw baseline run this onnxruntime; the PyTriton peer must run the same one.
ORT_VERSION="$(sed -n 's/^onnxruntime==\([^ ]*\).*/\1/p' "$ROOT/requirements/dev.txt")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

if ! command -v hey >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends hey
fi

if [ ! -x "$PYTRITON_VENV/bin/python" ] || ! "$PYTRITON_VENV/bin/python" -c "import pytriton, onnxruntime" 2>/dev/null; then
    "$PYTHON" -m venv "$PYTRITON_VENV"
    "$PYTRITON_VENV/bin/python" -m pip install --quiet --upgrade pip
    # nvidia-pytriton pins numpy<2; onnxruntime's wheel accepts numpy 1.x.
    "$PYTRITON_VENV/bin/python" -m pip install --quiet \
        "nvidia-pytriton==$PYTRITON_VERSION" "numpy<2" "onnxruntime==$ORT_VERSION"
fi

echo "hey: $(command -v hey)"
echo "PyTriton: $PYTRITON_VENV ($("$PYTRITON_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nvidia-pytriton"))'))"
