"""Champion/challenger: compare two versions' predictions of the same rows (pure, no AWS).

Rows are matched by the id columns of the pipeline's output. Numbers reported: rows compared,
Pearson correlation, agreement (identical labels when both predict a few whole numbers, else the
share of rows whose predictions differ by at most ``large_difference``), each distribution
(mean, std, quartiles, a 10-bin histogram on shared bins) and the rows that differ most.
The verdict fails when more than ``max_large_share`` of the rows differ by more than
``large_difference``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

HISTOGRAM_BINS = 10
TOP_ROWS = 10
MAX_LABELS = 10  # at most this many distinct whole numbers: the predictions are labels
ID_CANDIDATES = ("source_file", "row_number")
NOT_IDS = ("model_package_version", "execution_id", "run_date")


@dataclass(frozen=True)
class Thresholds:
    """The comparison's opinions, from the stage config."""

    large_difference: float = 0.1
    max_large_share: float = 0.05


def prediction_column(frame: pd.DataFrame) -> str:
    """``prediction``, else the first ``prediction_N`` column (the first output)."""
    if "prediction" in frame.columns:
        return "prediction"
    numbered = sorted(c for c in frame.columns if str(c).startswith("prediction_"))
    if not numbered:
        raise ValueError("the predictions have no prediction column")
    return str(numbered[0])


def id_columns(frame: pd.DataFrame) -> list[str]:
    """The id column(s): every column that is neither a prediction nor run metadata."""
    return [
        str(c) for c in frame.columns if not str(c).startswith("prediction") and c not in NOT_IDS
    ]


def _describe(values: np.ndarray) -> dict[str, float]:
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p25": float(q1),
        "median": float(median),
        "p75": float(q3),
    }


def _is_labels(*arrays: np.ndarray) -> bool:
    joined = np.concatenate(arrays)
    return bool(np.all(joined == np.round(joined))) and np.unique(joined).size <= MAX_LABELS


def compare_predictions(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    *,
    thresholds: Thresholds,
    top: int = TOP_ROWS,
) -> dict[str, Any]:
    """Compare two prediction tables of the same input; the result is JSON-ready."""
    ids = id_columns(challenger)
    column_a, column_b = prediction_column(champion), prediction_column(challenger)
    left = champion[[*ids, column_a]].rename(columns={column_a: "champion"})
    right = challenger[[*ids, column_b]].rename(columns={column_b: "challenger"})
    joined = left.merge(right, on=ids, how="inner")
    a = joined["champion"].to_numpy(dtype=float)
    b = joined["challenger"].to_numpy(dtype=float)
    if not a.size:
        raise ValueError("the two versions' predictions share no row id")
    difference = np.abs(a - b)
    labels = _is_labels(a, b)
    agreement = (
        float(np.mean(a == b))
        if labels
        else float(np.mean(difference <= thresholds.large_difference))
    )
    large = difference > (0 if labels else thresholds.large_difference)
    low, high = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    edges = np.linspace(low, high if high > low else low + 1, HISTOGRAM_BINS + 1)
    order = np.argsort(-difference, kind="stable")[:top]
    worst = joined.iloc[order].assign(difference=difference[order])
    correlation = float(np.corrcoef(a, b)[0, 1]) if a.std() and b.std() else None
    share = float(large.mean())
    return {
        "rows": {"champion": len(champion), "challenger": len(challenger), "compared": int(a.size)},
        "id_columns": ids,
        "labels": labels,
        "correlation": correlation,
        "agreement": agreement,
        "large_difference": thresholds.large_difference,
        "large_share": share,
        "max_large_share": thresholds.max_large_share,
        "verdict": "pass" if share <= thresholds.max_large_share else "fail",
        "champion": _describe(a),
        "challenger": _describe(b),
        "histogram": {
            "edges": [float(e) for e in edges],
            "champion": [int(c) for c in np.histogram(a, bins=edges)[0]],
            "challenger": [int(c) for c in np.histogram(b, bins=edges)[0]],
        },
        "top_differences": [
            {key: _plain(value) for key, value in row.items()}
            for row in worst.to_dict(orient="records")
        ],
    }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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
    lines = [
        f"### Champion {champion} vs challenger {challenger}: {verdict} ({effect})",
        "",
        f"{result['rows']['compared']} rows compared by {', '.join(result['id_columns'])}; "
        f"{result['large_share']:.2%} differ by more than the large-difference level "
        f"(allowed {result['max_large_share']:.2%}).",
        "",
        "| | champion | challenger |",
        "|---|---|---|",
    ]
    for key in ("mean", "std", "p25", "median", "p75"):
        lines.append(f"| {key} | {result['champion'][key]:.4g} | {result['challenger'][key]:.4g} |")
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
    ids = result["id_columns"]
    lines += ["", "Rows that differ most:", ""]
    lines += ["| " + " | ".join([*ids, "champion", "challenger", "difference"]) + " |"]
    lines += ["|" + "---|" * (len(ids) + 3)]
    for row in result["top_differences"]:
        cells = [str(row[c]) for c in ids]
        cells += [f"{row['champion']:.4g}", f"{row['challenger']:.4g}", f"{row['difference']:.4g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def nothing_to_compare(stage: str, reason: str) -> str:
    """The report when there is no champion (prod runs nothing yet, or it is unknown)."""
    return f"### Champion/challenger ({stage})\n\nNothing compared: {reason}.\n"
