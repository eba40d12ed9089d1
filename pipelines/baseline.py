"""Write a data-quality baseline from a training dataset, without Model Monitor.

    python -m pipelines.baseline --input DATA --output DIR [--columns a,b] [--exclude target]

DATA is a CSV or Parquet file, or a directory of them. DIR receives ``statistics.json`` and
``constraints.json`` in the schema AWS documents for Model Monitor baselines ("Schema for
Statistics" / "Schema for Constraints", SageMaker developer guide): attach them to a model
package version as ``DriftCheckBaselines.ModelDataQuality`` and every batch-inference run checks
its batch against them (pipelines/steps/quality.py, docs/evidence.md).

Exit codes: 0 written, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from errors import ConfigError
from pipelines.steps.quality import (
    DEFAULT_COMPARISON_THRESHOLD,
    DEFAULT_DATATYPE_THRESHOLD,
    bucket_counts,
)
from promotion.config_rules import refuse_control_characters
from promotion.output import check_writable_dir
from utils import OneLineParser

# "By default, distributions are materialized in 10 buckets" (Schema for Statistics, Notes).
BUCKETS = 10
# The KLL sketch parameters Model Monitor writes; our sketch holds one level (see sketch_data).
SKETCH_K, SKETCH_C = 2048, 0.64
MAX_DOMAIN = 20  # string columns with at most this many values get a domain constraint
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def read_dataset(path: Path) -> pd.DataFrame:
    """One CSV or Parquet file, or every such file under a directory (sorted), as one frame."""
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.rglob("*") if p.name.lower().endswith(SUFFIXES))
    if not files:
        raise ConfigError(f"{path}: no CSV or Parquet file; pass a file or a directory of them")
    frames = []
    for file in files:
        if file.name.lower().endswith((".parquet", ".pq")):
            frames.append(pd.read_parquet(file))
        else:
            frames.append(pd.read_csv(file))
    return pd.concat(frames, ignore_index=True)


def sketch_data(values: np.ndarray, *, k: int = SKETCH_K) -> list[list[float]]:
    """A one-level sketch: every sorted value when there are at most ``k``, else ``k`` evenly
    spaced order statistics placed at the level whose weight (2**level) makes up the count."""
    ordered = np.sort(values)
    if ordered.size <= k:
        return [[float(v) for v in ordered]]
    level = int(np.ceil(np.log2(ordered.size / k)))
    picked = ordered[np.linspace(0, ordered.size - 1, ordered.size // 2**level).astype(int)]
    return [[] for _ in range(level)] + [[float(v) for v in picked]]


def numeric_feature(name: str, column: pd.Series) -> dict[str, Any]:
    """The statistics entry of a numeric column."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    common = {"num_present": int(finite.size), "num_missing": int(values.size - finite.size)}
    integral = bool(finite.size) and bool(np.all(finite == np.floor(finite)))
    entry: dict[str, Any] = {
        "name": name,
        "inferred_type": "Integral" if integral else "Fractional",
    }
    if not finite.size:
        entry["numerical_statistics"] = {"common": common}
        return entry
    low, high = float(finite.min()), float(finite.max())
    # Edges at the deciles, min to max (Model Monitor's buckets are equal-width; deciles keep
    # the gate's power on heavy tails, docs/evidence.md), counted by the gate's own rule: one
    # convention on both sides. A constant column gets BUCKETS buckets [c, c], as Deequ's.
    edges = np.quantile(finite, np.linspace(0.0, 1.0, BUCKETS + 1))
    counts = bucket_counts(finite, edges)[1:-1]
    buckets = [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": int(c)}
        for i, c in enumerate(counts)
    ]
    entry["numerical_statistics"] = {
        "common": common,
        "mean": float(finite.mean()),
        "sum": float(finite.sum()),
        "std_dev": float(finite.std()),
        "min": low,
        "max": high,
        "distribution": {
            "kll": {
                "buckets": buckets,
                "sketch": {
                    "parameters": {"c": SKETCH_C, "k": SKETCH_K},
                    "data": sketch_data(finite),
                },
            }
        },
    }
    return entry


def string_feature(name: str, column: pd.Series) -> dict[str, Any]:
    """The statistics entry of a non-numeric column."""
    present = column.dropna().astype(str)
    counts = present.value_counts()
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": int(present.size), "num_missing": int(column.isna().sum())},
            "distinct_count": int(counts.size),
            "distribution": {
                "categorical": {
                    "buckets": [{"value": str(v), "count": int(c)} for v, c in counts.items()]
                }
            },
        },
    }


def statistics_document(frame: pd.DataFrame) -> dict[str, Any]:
    """statistics.json of every column of ``frame``."""
    features = []
    for name in frame.columns:
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        features.append(
            numeric_feature(str(name), column) if numeric else string_feature(str(name), column)
        )
    return {"version": 0, "dataset": {"item_count": len(frame)}, "features": features}


def constraints_document(
    statistics: dict[str, Any], *, comparison_threshold: float = DEFAULT_COMPARISON_THRESHOLD
) -> dict[str, Any]:
    """constraints.json suggested by the statistics: types, completeness, sign, domains."""
    features = []
    for feature in statistics["features"]:
        numeric = feature.get("numerical_statistics")
        stats = numeric or feature["string_statistics"]
        common = stats["common"]
        rows = common["num_present"] + common["num_missing"]
        entry: dict[str, Any] = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": common["num_present"] / rows if rows else 1.0,
        }
        if numeric and "min" in numeric:
            entry["num_constraints"] = {"is_non_negative": numeric["min"] >= 0}
        elif not numeric and stats["distinct_count"] <= MAX_DOMAIN:
            buckets = stats["distribution"]["categorical"]["buckets"]
            entry["string_constraints"] = {"domains": [b["value"] for b in buckets]}
        features.append(entry)
    return {
        "version": 0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": DEFAULT_DATATYPE_THRESHOLD,
            "domain_content_threshold": 0.1,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": comparison_threshold,
                "comparison_method": "Robust",
            },
        },
    }


def write_baseline(
    frame: pd.DataFrame, output: Path, *, comparison_threshold: float = DEFAULT_COMPARISON_THRESHOLD
) -> tuple[Path, Path]:
    """Write statistics.json and constraints.json into ``output``; return their paths."""
    statistics = statistics_document(frame)
    constraints = constraints_document(statistics, comparison_threshold=comparison_threshold)
    output.mkdir(parents=True, exist_ok=True)
    paths = output / "statistics.json", output / "constraints.json"
    for path, document in zip(paths, (statistics, constraints), strict=True):
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return paths


def select_columns(
    frame: pd.DataFrame, columns: Sequence[str], exclude: Sequence[str]
) -> pd.DataFrame:
    """The columns asked for (all by default), minus the excluded ones."""
    wanted = list(columns) or [str(c) for c in frame.columns]
    missing = [c for c in [*wanted, *exclude] if c not in frame.columns]
    if missing:
        raise ConfigError(f"the dataset has no column(s) {', '.join(missing)}")
    return frame[[c for c in wanted if c not in set(exclude)]]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, read, write; a bad input prints one line and returns 2."""
    parser = OneLineParser(prog="python -m pipelines.baseline", description=__doc__)
    parser.add_argument("--input", type=Path, required=True, help="CSV/Parquet file or directory")
    parser.add_argument("--output", type=Path, required=True, help="directory to write into")
    parser.add_argument("--columns", default="", help="comma-separated columns (default: all)")
    parser.add_argument("--exclude", default="", help="comma-separated columns to leave out")
    parser.add_argument(
        "--comparison-threshold", type=float, default=DEFAULT_COMPARISON_THRESHOLD,
        help="drift threshold written into constraints.json (default %(default)s)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    refuse_control_characters(parser, args)
    if not 0 < args.comparison_threshold <= 1:
        parser.error("--comparison-threshold must be greater than 0 and at most 1")
    try:
        check_writable_dir(args.output, flag="--output")
        frame = select_columns(
            read_dataset(args.input),
            [c for c in args.columns.split(",") if c],
            [c for c in args.exclude.split(",") if c],
        )
        paths = write_baseline(frame, args.output, comparison_threshold=args.comparison_threshold)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"wrote {paths[0]} and {paths[1]} ({len(frame)} rows, {frame.shape[1]} columns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
