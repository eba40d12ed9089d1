"""Champion/challenger: compare two versions' predictions of the same rows (pure, no AWS).

Rows are matched by the run's id columns and every declared prediction column is compared
(comparison_rows.py says how, nulls included). Numbers reported: rows compared, rows with a
null prediction on each side, each column's agreement and share of large differences, and for
the first numeric column the Pearson correlation, each distribution (mean, std, quartiles, a
10-bin histogram on shared bins) and the rows that differ most. The verdict fails when more than
``max_large_share`` of the rows differ largely in any column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.evidence.comparison_rows import (
    SIDES,
    Column,
    Difference,
    differences,
    match_rows,
    null_rows,
)

HISTOGRAM_BINS = 10
TOP_ROWS = 10


@dataclass(frozen=True)
class Thresholds:
    """The comparison's opinions, from the stage config."""

    large_difference: float = 0.1
    max_large_share: float = 0.05


def _describe(values: np.ndarray) -> dict[str, float | None]:
    values = values[np.isfinite(values)]
    if not values.size:
        return dict.fromkeys(("mean", "std", "p25", "median", "p75"))
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p25": float(q1),
        "median": float(median),
        "p75": float(q3),
    }


def _numbers(described: Difference) -> dict[str, Any]:
    """Correlation, distributions and histograms of one numeric column (nulls left out)."""
    a, b = described.champion, described.challenger
    finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    edges = np.linspace(low, high if high > low else low + 1, HISTOGRAM_BINS + 1)
    both = np.isfinite(a) & np.isfinite(b)
    correlation = (
        float(np.corrcoef(a[both], b[both])[0, 1])
        if both.sum() > 1 and a[both].std() and b[both].std()
        else None
    )
    return {
        "labels": described.labels,
        "correlation": correlation,
        "champion": _describe(a),
        "challenger": _describe(b),
        "histogram": {
            "edges": [float(e) for e in edges],
            "champion": [int(c) for c in np.histogram(a[np.isfinite(a)], bins=edges)[0]],
            "challenger": [int(c) for c in np.histogram(b[np.isfinite(b)], bins=edges)[0]],
        },
    }


def _top_rows(
    joined: pd.DataFrame, ids: Sequence[str], found: Sequence[Difference], top: int
) -> list[dict[str, Any]]:
    """The rows that differ most: large ones first, then by the first column's difference."""
    first = found[0]
    large = np.logical_or.reduce([d.large for d in found])
    if first.column.numeric:
        with np.errstate(invalid="ignore"):
            distance = np.abs(first.champion - first.challenger)
        distance = np.where(np.isnan(distance), np.inf, distance)
    else:
        distance = first.large.astype(float)
    order = np.lexsort((-distance, ~large))[:top]
    rows = []
    for i in order:
        row = {name: _plain(joined[name].iloc[i]) for name in ids}
        if len(found) == 1:  # the one column's values, as the report has always named them
            row.update(champion=_plain(first.champion[i]), challenger=_plain(first.challenger[i]))
        for other in found if len(found) > 1 else ():
            row[f"{other.column.name} (champion)"] = _plain(other.champion[i])
            row[f"{other.column.name} (challenger)"] = _plain(other.challenger[i])
        row["difference" if len(found) == 1 else f"{first.column.name} difference"] = _plain(
            distance[i]
        )
        rows.append(row)
    return rows


def compare_predictions(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    *,
    id_columns: Sequence[str],
    prediction_columns: Sequence[Column],
    thresholds: Thresholds,
    versions: tuple[str, str] = SIDES,
    top: int = TOP_ROWS,
) -> dict[str, Any]:
    """Compare two prediction tables of the same input; the result is JSON-ready.

    ``versions`` name the two sides in refusals (repeated ids, missing columns)."""
    ids = list(id_columns)
    frames = {"champion": champion, "challenger": challenger}
    joined = match_rows(frames, dict(zip(SIDES, versions, strict=True)), ids, prediction_columns)
    found = differences(joined, prediction_columns, thresholds.large_difference)
    large = np.logical_or.reduce([d.large for d in found])
    share = float(large.mean()) if large.size else 1.0
    numeric = next((d for d in found if d.column.numeric), None)
    empty = {"labels": found[0].labels, "correlation": None, "champion": None,
             "challenger": None, "histogram": None}  # fmt: skip
    return {
        "rows": {"champion": len(champion), "challenger": len(challenger), "compared": len(joined)},
        "id_columns": ids,
        "nulls": {side: null_rows(found, side) for side in SIDES},
        "described": numeric.column.name if numeric else None,
        "agreement": float(1 - numeric.large.mean()) if numeric else float(1 - share),
        "large_difference": thresholds.large_difference,
        "large_share": share,
        "max_large_share": thresholds.max_large_share,
        "verdict": "pass" if share <= thresholds.max_large_share else "fail",
        "columns": {
            d.column.name: {"type": d.column.kind, "large_share": float(d.large.mean())}
            for d in found
        },
        **(_numbers(numeric) if numeric else empty),
        "top_differences": _top_rows(joined, ids, found, top),
    }


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN and infinities as null."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value)
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _chart(title: str, labels: Sequence[str], counts: Sequence[int], top: int) -> list[str]:
    quoted = ", ".join(f'"{label}"' for label in labels)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{title}"',
        f"    x-axis [{quoted}]",
        f'    y-axis "rows" 0 --> {max(top, 1)}',
        f"    bar [{', '.join(str(c) for c in counts)}]",
        "```",
    ]


def markdown_report(
    result: Mapping[str, Any], *, champion: str, challenger: str, blocks_prod: bool = False
) -> str:
    """The reviewer's view: verdict, numbers, two histograms, the rows that differ most."""
    verdict = result["verdict"]
    effect = "blocks the prod plan" if blocks_prod and verdict == "fail" else "annotation only"
    what = "identical labels" if result["labels"] else f"difference <= {result['large_difference']}"
    correlation = "-" if result["correlation"] is None else f"{result['correlation']:.4f}"
    nulls = result["nulls"]
    lines = [
        f"### Champion {champion} vs challenger {challenger}: {verdict} ({effect})",
        "",
        f"{result['rows']['compared']} rows compared by {', '.join(result['id_columns'])}; "
        f"{result['large_share']:.2%} differ by more than the large-difference level "
        f"(allowed {result['max_large_share']:.2%}).",
    ]
    if nulls["champion"] or nulls["challenger"]:
        lines.append(
            f"Rows without a prediction (null, or no row), each a large difference: "
            f"champion {nulls['champion']}, challenger {nulls['challenger']}."
        )
    if len(result["columns"]) > 1:
        lines += ["", "| column | type | large differences |", "|---|---|---|"]
        lines += [f"| {name} | {column['type']} | {column['large_share']:.2%} |"
                  for name, column in result["columns"].items()]  # fmt: skip
    if result["described"] is not None:
        if len(result["columns"]) > 1:
            lines += ["", f"Column `{result['described']}`:"]
        lines += ["", "| | champion | challenger |", "|---|---|---|"]
        for key in ("mean", "std", "p25", "median", "p75"):
            cells = (_cell(result[side][key]) for side in ("champion", "challenger"))
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines += [
            f"| agreement ({what}) | {result['agreement']:.2%} | |",
            f"| correlation | {correlation} | |",
            "",
        ]
        edges = result["histogram"]["edges"]
        scale = max(abs(edges[0]), abs(edges[-1]), 1e-12)
        labels = [f"{round(edge / scale, 6) * scale:.3g}" for edge in edges[:-1]]
        top = max(result["histogram"]["champion"] + result["histogram"]["challenger"])
        lines += _chart(f"champion {champion}", labels, result["histogram"]["champion"], top)
        lines += _chart(f"challenger {challenger}", labels, result["histogram"]["challenger"], top)
    rows = result["top_differences"]
    keys = list(rows[0]) if rows else [*result["id_columns"], "champion", "challenger"]
    lines += ["", "Rows that differ most:", ""]
    lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    ids = set(result["id_columns"])
    lines += [
        "| " + " | ".join(str(row[k]) if k in ids else _cell(row[k]) for k in keys) + " |"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def nothing_to_compare(stage: str, reason: str) -> str:
    """The report when there is no champion (prod runs nothing yet, or it is unknown)."""
    return f"### Champion/challenger ({stage})\n\nNothing compared: {reason}.\n"


def refused_report(stage: str, reason: str, *, blocks_prod: bool) -> str:
    """The report when the comparison could not give a verdict (repeated ids, a failed run)."""
    effect = "blocks the prod plan" if blocks_prod else "annotation only"
    return f"### Champion/challenger ({stage}): no verdict ({effect})\n\nRefused: {reason}.\n"
