"""A compact markdown table of model and baseline rows, the one the CLI prints and the README shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Summarized(Protocol):
    """Any result with a one-row summary: PCKResult, RegressionResult, CocoPCKResult."""

    def summary(self) -> dict[str, float | None]: ...


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_table(rows: Mapping[str, Summarized], *, digits: int = 4, label: str = "model") -> str:
    """One row per named result, e.g. {"convlstm": result, "last_value": baseline}.

    Columns come in first-seen order; a cell is "n/a" for a None value and blank where a row lacks the column.
    """
    if not rows:
        raise ValueError("markdown_table needs at least one row")
    summaries = {name: result.summary() for name, result in rows.items()}
    columns = list(dict.fromkeys(key for summary in summaries.values() for key in summary))
    lines = [
        "| " + " | ".join([label, *columns]) + " |",
        "|" + "---|" + "---:|" * len(columns),
    ]
    for name, summary in summaries.items():
        cells = [_cell(summary[c], digits) if c in summary else "" for c in columns]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)
