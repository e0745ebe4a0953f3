from __future__ import annotations

import subprocess
import sys


def test_evaluation_never_imports_torch() -> None:
    """The service image has no torch; importing every evaluation module must not pull it in."""
    code = (
        "import pkgutil, importlib, sys, evaluation\n"
        "for module in pkgutil.iter_modules(evaluation.__path__):\n"
        "    importlib.import_module(f'evaluation.{module.name}')\n"
        "banned = {'torch', 'models', 'training', 'service'}\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in banned))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
