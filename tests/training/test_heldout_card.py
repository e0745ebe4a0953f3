"""The pose card carries PCK on the held-out renderer beside the in-distribution PCK, measured by the exporter."""

from __future__ import annotations

from pathlib import Path

from modelcard import ModelCard
from tests.training.conftest import TINY_POSE, tiny_config
from training.evaluate import evaluate_version
from training.export import export_to_repository
from training.loop import fit
from training.tasks import PoseTask


def test_card_reports_heldout_style_pck_in_the_layout_of_pck(tmp_path: Path) -> None:
    config = tiny_config(TINY_POSE, tmp_path, "data.heldout_samples=6", "optim.epochs=1")
    version = export_to_repository(fit(config, PoseTask()).checkpoint_path, tmp_path / "repo")
    metrics = ModelCard.read(version / "model.json").metrics
    heldout, clean = metrics["pck_heldout_style"], metrics["pck"]
    assert set(heldout) == set(clean)
    assert set(heldout["pck"]) == {"0.05", "0.1", "0.2"}
    assert heldout["points_evaluated"] > 0
    assert heldout != clean
    _, again, headline = evaluate_version(version)  # re-measured from the shipped file, not copied from the card
    assert again["pck_heldout_style"] == heldout
    assert set(headline) >= {"held-out style PCK@0.2", "PCK@0.2"}


def test_without_heldout_samples_the_card_has_no_heldout_block(tmp_path: Path) -> None:
    config = tiny_config(TINY_POSE, tmp_path)
    assert "heldout_inputs" not in PoseTask().test_split(config)
