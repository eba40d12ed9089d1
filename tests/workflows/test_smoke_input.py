"""demo/smoke-input.csv: 20 rows of load_breast_cancer, features f00..f29 in the dataset's order."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

SMOKE_INPUT = Path(__file__).resolve().parents[2] / "demo" / "smoke-input.csv"


def test_smoke_input_is_20_rows_of_the_dataset() -> None:
    from sklearn import datasets

    dataset = datasets.load_breast_cancer()

    with SMOKE_INPUT.open(newline="") as handle:
        rows = list(csv.reader(handle))

    header, body = rows[0], rows[1:]
    assert header == ["record_id"] + [f"f{i:02d}" for i in range(30)]
    assert len(body) == 20
    assert len({row[0] for row in body}) == 20
    for row in body:
        # record_id is the row's index in the dataset, so each value can be checked.
        expected = dataset.data[int(row[0])]
        assert [float(value) for value in row[1:]] == pytest.approx(list(expected), rel=1e-12)
    # Both classes are present, so the smoke run exercises both predictions.
    assert {int(dataset.target[int(row[0])]) for row in body} == {0, 1}
