"""A model repository's own input files (its smoke input and its evaluation rows, owned by its
team: docs/fleet.md), checked against the model's columns before anything is written.

The model's feature columns come from the stage key `feature_columns`, else the package's
`feature_columns` metadata (build.py), or from the deployed pipeline's Preprocess arguments
(pipelines.smoke: what the deployed pipeline will read). A file's header must name every feature
column, and the id column when the stage has one, each once.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from errors import ConfigError

SMOKE_INPUT = Path("inputs/smoke-input.csv")  # relative to the repository root
EVALUATION_ROWS = Path("inputs/evaluation-rows.csv")
PREPROCESS_STEP = "Preprocess"
FEATURES_ARGUMENT = "--feature-columns"

DELIMITERS = (";", "\t", "|")  # what a spreadsheet writes instead of commas


def header_of(path: Path) -> list[str]:
    """The column names of a CSV (with a header; `.csv.gz` too) or Parquet file.

    Raises:
        ConfigError: the file cannot be read as such, or is empty.
    """
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            return list(pq.read_schema(path).names)
        opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as error:
        raise ConfigError(f"{path}: cannot read its header ({error}); write it as CSV with a "
                          "header row, or as Parquet") from error  # fmt: skip
    if not header:
        raise ConfigError(f"{path} is empty: write a header row naming the model's columns")
    return [name.strip() for name in header]


def row_count(path: Path) -> int:
    """Data rows of a CSV (the header excluded) or Parquet file."""
    if path.name.lower().endswith((".parquet", ".pq")):
        return int(pq.read_metadata(path).num_rows)
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return max(sum(1 for row in csv.reader(handle) if row) - 1, 0)


def check_columns(
    path: Path, *, features: Sequence[str], id_column: str | None, source: str
) -> None:
    """Refuse, in one line, a file that does not name each column the model reads.

    Args:
        path: the input file.
        features: the model's feature columns.
        id_column: the stage's id column, or None.
        source: where the features come from (for the message).
    """
    header = header_of(path)
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise ConfigError(f"{path} names the column {twice[0]} more than once: which one the "
                          f"model reads would be a guess; fix {path}")  # fmt: skip
    wanted = [*features, *([id_column] if id_column else [])]
    missing = [name for name in wanted if name not in set(header)]
    if missing and len(header) == 1 and any(mark in header[0] for mark in DELIMITERS):
        raise ConfigError(f"{path} has one column, {header[0][:60]!r}: it looks delimited by "
                          "something else than commas; write it as CSV (commas), or as "
                          "Parquet")  # fmt: skip
    if missing:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        raise ConfigError(
            f"{path} lacks {len(missing)} of the model's {len(wanted)} columns: {shown} (from "
            f"{source}); fix {path}: its header must name every feature column"
            + (f" and the id column {id_column}" if id_column else "")
        )


def definition_features(definition: Mapping[str, Any]) -> tuple[str, ...]:
    """The feature columns a rendered or deployed pipeline definition's Preprocess step reads."""
    for step in definition.get("Steps", []):
        if step.get("Name") != PREPROCESS_STEP:
            continue
        arguments = (
            step.get("Arguments", {}).get("AppSpecification", {}).get("ContainerArguments", [])
        )
        chunks = [arguments[i + 1] for i, value in enumerate(arguments[:-1])
                  if value == FEATURES_ARGUMENT]  # fmt: skip
        return tuple(name for chunk in chunks for name in str(chunk).split(",") if name)
    return ()
