"""docs/deployment.md documents every setting the server reads."""

from __future__ import annotations

import ast
import re

from tests.deploy._files import ROOT

SETTINGS = ROOT / "service" / "settings.py"
GUIDE = ROOT / "docs" / "deployment.md"


def _setting_variables() -> set[str]:
    """POSECAST_<FIELD> for every field of service.settings.Settings, read from the source (no import)."""
    tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
    settings = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    fields = {
        node.target.id
        for node in settings.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id != "model_config"
    }
    assert fields, "no fields found in Settings"
    return {f"POSECAST_{name.upper()}" for name in fields}


def test_every_setting_is_documented() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(POSECAST_\w+)` \|", guide, flags=re.MULTILINE))
    missing = sorted(_setting_variables() - rows)
    assert not missing, f"the variables table of docs/deployment.md has no row for {missing}"
    unknown = sorted(rows - _setting_variables())
    assert not unknown, f"docs/deployment.md documents settings the server does not have: {unknown}"


def test_guide_covers_the_deployment_topics() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    for needle in (
        "NVIDIA Container Toolkit",
        "docker compose --profile cpu",
        "docker compose --profile scale-out",
        "/v2/repository/models/",
        "kubectl apply -k deploy/kubernetes",
        "deploy/triton/README.md",
    ):
        assert needle in guide, needle
