"""A model repository's own input files (its smoke input and its evaluation rows, owned by its
team: docs/fleet.md), checked against the model's columns before anything is written.

The model's feature columns come from the stage key `feature_columns`, else the package's
`feature_columns` metadata (build.py), or from the deployed pipeline's Preprocess arguments
(pipelines.smoke: what the deployed pipeline will read). A file is checked by Preprocess's own
rules (pipelines/steps/preprocess.py `open_input` and `check_rows`): a CSV or Parquet name, a
header naming every feature column, and the id column when the stage has one, each once, and
rows Preprocess can read (as wide as the header, numeric feature values).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from errors import ConfigError
from pipelines.steps import preprocess

SMOKE_INPUT = Path("inputs/smoke-input.csv")  # relative to the repository root
EVALUATION_ROWS = Path("inputs/evaluation-rows.csv")


def header_of(path: Path) -> list[str]:
    """The column names of a CSV (with a header; `.csv.gz` too) or Parquet file, read as
    Preprocess reads them (pipelines/steps/preprocess.py: names as written, CSV or Parquet by
    the file's name).

    Raises:
        ConfigError: the file cannot be read as such, or is empty.
    """
    return _checked(path, features=(), id_column=None, source="")


def _checked(
    path: Path, *, features: Sequence[str], id_column: str | None, source: str
) -> list[str]:
    try:
        header, _ = preprocess.open_input(path, str(path), features, id_column, source)
        if header and features:  # its rows too: a short row or a word where a number goes
            preprocess.check_rows(path, str(path), features, id_column)
    except preprocess.InputError as error:
        raise ConfigError(str(error)) from error
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as error:
        raise ConfigError(f"{path}: cannot read its header ({error}); write it as CSV with a "
                          "header row, or as Parquet") from error  # fmt: skip
    if not header:
        raise ConfigError(f"{path} is empty: write a header row naming the model's columns")
    return header


def row_count(path: Path) -> int:
    """Data rows of a CSV (the header excluded) or Parquet file."""
    if path.name.lower().endswith(preprocess.PARQUET_SUFFIXES):
        return int(pq.read_metadata(path).num_rows)
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return max(sum(1 for row in csv.reader(handle) if row) - 1, 0)


def check_columns(
    path: Path, *, features: Sequence[str], id_column: str | None, source: str
) -> None:
    """Refuse, in one line, a file Preprocess would refuse: its name (CSV or Parquet), its
    header or schema, each column the model reads named once, and its rows (each as wide as the
    header, the features' values numbers, present and finite).

    Args:
        path: the input file.
        features: the model's feature columns.
        id_column: the stage's id column, or None.
        source: where the features come from (for the message).
    """
    _checked(path, features=features, id_column=id_column, source=source)
