"""Champion/challenger: match two versions' rows by id and find the rows that differ (pure).

The id columns are what the run recorded (its ``_SUCCESS``) or the stage's; the prediction
columns are the stage's ``prediction_columns``: nothing is guessed from the frame's columns.
Numeric columns (double, bigint) differ largely by more than ``large_difference`` (or at all,
when both versions predict a few whole numbers: labels); other columns (string, boolean, arrays)
when unequal. A null on either side (NaN, a missing row) is always a large difference: a
version that predicts nothing for a row gives no evidence that it is fine there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from errors import ConfigError, PromotionError

NUMERIC_KINDS = ("double", "bigint")
MAX_LABELS = 10  # at most this many distinct whole numbers: the predictions are labels
SIDES = ("champion", "challenger")


@dataclass(frozen=True)
class Column:
    """A prediction column and its declared type (``name:type`` in prediction_columns)."""

    name: str
    kind: str = "double"

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS

    @classmethod
    def parse(cls, entry: str) -> Column:
        name, _, kind = entry.partition(":")
        return cls(name, kind.strip().lower() or "double")


@dataclass(frozen=True)
class Difference:
    """One prediction column over the matched rows: both sides' values and the large rows."""

    column: Column
    champion: np.ndarray
    challenger: np.ndarray
    large: np.ndarray  # bool per row
    labels: bool


def _refuse_unusable_ids(frame: pd.DataFrame, ids: Sequence[str], version: str) -> None:
    """Rows of one version must each have one id: a repeated or empty id would join rows of
    different inputs (a many-to-many join) and compare predictions that belong to nothing."""
    empty = frame[ids].isna().any(axis=1)
    if empty.any():
        raise PromotionError(
            f"version {version}: {int(empty.sum())} row(s) without an id ({', '.join(ids)}); "
            "the comparison matches rows by id: give every evaluation row its id"
        )
    repeated = frame.duplicated(subset=list(ids), keep=False)
    if repeated.any():
        example = tuple(frame.loc[repeated, list(ids)].iloc[0])
        shown = repr(example[0]) if len(example) == 1 else repr(example)
        raise PromotionError(
            f"version {version}: id {shown} ({', '.join(ids)}) names {int(repeated.sum())} rows "
            "of repeated ids; the comparison matches rows by id: make the evaluation input's "
            "ids unique"
        )


def match_rows(
    frames: dict[str, pd.DataFrame],
    versions: dict[str, str],
    ids: Sequence[str],
    columns: Sequence[Column],
) -> pd.DataFrame:
    """Both versions' rows side by side (``<column>:champion``, ``<column>:challenger``);
    a row only one version has is kept, with nulls on the other side."""
    wanted = [*ids, *(c.name for c in columns)]
    for side, frame in frames.items():
        missing = [name for name in wanted if name not in frame.columns]
        if missing:
            raise ConfigError(
                f"version {versions[side]}'s predictions have no column {', '.join(missing)} "
                f"(they have {', '.join(map(str, frame.columns))}); check the stage's "
                "id_column and prediction_columns"
            )
        _refuse_unusable_ids(frame, ids, versions[side])
    left, right = (
        frames[side][wanted].rename(columns={c.name: f"{c.name}:{side}" for c in columns})
        for side in SIDES
    )
    return left.merge(right, on=list(ids), how="outer", sort=False)


def _is_labels(*arrays: np.ndarray) -> bool:
    joined = np.concatenate(arrays)
    joined = joined[np.isfinite(joined)]
    return bool(np.all(joined == np.round(joined))) and np.unique(joined).size <= MAX_LABELS


def _canonical(value: Any) -> Any:
    """A value comparable by equality: arrays as JSON text, nulls as None."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps([_canonical(v) for v in value])
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def differences(joined: pd.DataFrame, columns: Sequence[Column], large: float) -> list[Difference]:
    """Each prediction column's values on both sides and which rows differ largely."""
    found = []
    for column in columns:
        a_series, b_series = (joined[f"{column.name}:{side}"] for side in SIDES)
        if column.numeric:
            a = pd.to_numeric(a_series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            b = pd.to_numeric(b_series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            labels = _is_labels(a, b)
            with np.errstate(invalid="ignore"):
                far = np.abs(a - b) > (0 if labels else large)
            null = np.isnan(a) | np.isnan(b)
        else:
            a = np.array([_canonical(v) for v in a_series], dtype=object)
            b = np.array([_canonical(v) for v in b_series], dtype=object)
            labels = True
            null = np.array([x is None or y is None for x, y in zip(a, b, strict=True)], bool)
            far = a != b
        found.append(Difference(column, a, b, np.asarray(null | far, dtype=bool), labels))
    return found


def null_rows(difference: Sequence[Difference], side: str) -> int:
    """Rows with a null prediction (or no row at all) on one side, in any column."""
    nulls = np.zeros(len(difference[0].large), dtype=bool) if difference else np.zeros(0, bool)
    for column in difference:
        values = getattr(column, side)
        nulls |= (
            np.isnan(values) if column.column.numeric else np.array([v is None for v in values])
        )
    return int(nulls.sum())
