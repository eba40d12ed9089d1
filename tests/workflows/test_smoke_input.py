"""The inputs this repository scores: rows of load_breast_cancer, features f00..f29 in the
dataset's order, each row's record_id its index in the dataset (so each value can be checked).

inputs/ holds this repository's own (its model is the demo's breast-cancer classifier; a model
repository's team owns its own: docs/fleet.md); demo/smoke-input.csv is the demo world's, which
the demo and the tests use whatever a repository's own inputs hold."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("path", "count"),
    [("demo/smoke-input.csv", 20), ("inputs/smoke-input.csv", 20),
     ("inputs/evaluation-rows.csv", 100)],
)  # fmt: skip
def test_inputs_are_rows_of_the_dataset(path: str, count: int) -> None:
    from sklearn import datasets

    dataset = datasets.load_breast_cancer()

    with (ROOT / path).open(newline="") as handle:
        rows = list(csv.reader(handle))

    header, body = rows[0], rows[1:]
    assert header == ["record_id"] + [f"f{i:02d}" for i in range(30)]
    assert len(body) == count
    assert len({row[0] for row in body}) == count
    for row in body:
        expected = dataset.data[int(row[0])]
        assert [float(value) for value in row[1:]] == pytest.approx(list(expected), rel=1e-12)
    # Both classes are present, so each input exercises both predictions.
    assert {int(dataset.target[int(row[0])]) for row in body} == {0, 1}


def test_the_smoke_input_and_the_evaluation_rows_are_different_rows() -> None:
    def ids(path: str) -> set[str]:
        with (ROOT / path).open(newline="") as handle:
            return {row[0] for row in list(csv.reader(handle))[1:]}

    assert not ids("inputs/smoke-input.csv") & ids("inputs/evaluation-rows.csv")
