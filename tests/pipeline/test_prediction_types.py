"""Predictions of every shape become typed columns, the types the results table declares."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.definition import layout
from pipelines.steps import postprocess
from promotion.config import PREDICTION_TYPES
from tests.pipeline.test_step_scripts import rows_for, run_postprocess, run_preprocess, write_csv

ROWS = 5


def _score(tmp_path: Path, line: Callable[[int], str], columns: list[str] | None
           ) -> tuple[int, pa.Table | None]:  # fmt: skip
    """Preprocess ROWS rows, answer ``line(i)`` for row i, postprocess with ``columns``."""
    return _score_shards(tmp_path, lambda ids: "".join(line(i) + "\n" for i in ids) + "\n",
                         columns)  # fmt: skip


def _score_shards(tmp_path: Path, answer: Callable[[list[int]], str], columns: list[str] | None
                  ) -> tuple[int, pa.Table | None]:  # fmt: skip
    """Preprocess ROWS rows, answer ``answer(ids)`` for each shard's rows (its padding copy
    too), postprocess with ``columns``."""
    write_csv(tmp_path / "in/a.csv", rows_for(range(ROWS)))
    code, out = run_preprocess(tmp_path)
    assert code == 0
    predictions = out / "predictions"
    predictions.mkdir()
    for shard in sorted((out / "shards").iterdir()):
        ids = [int(float(row.split(",")[0])) for row in shard.read_text().splitlines()]
        (predictions / f"{shard.name}.out").write_text(answer(ids))
    arguments = layout.prediction_arguments(columns)
    code, final = run_postprocess(out, "--run-date=2024-01-31", *arguments)
    folder = final / "2024-01-31/exec123"
    return code, pq.read_table(folder) if code == 0 else None


def _softprob(i: int) -> str:
    return str([0.1 * (i % 3), 0.2, 1.0 - 0.2 - 0.1 * (i % 3)])


def test_xgboost_lists_become_one_column_per_class(tmp_path: Path) -> None:
    # GIVEN multi:softprob lines like [0.1, 0.2, 0.7] and three named columns
    code, table = _score(tmp_path, _softprob, ["p_a", "p_b", "p_c"])
    # THEN each class is a double column
    assert code == 0 and table is not None
    assert table.schema.field("p_c").type == pa.float64()
    assert table.column("p_a").to_pylist() == [0.1 * (i % 3) for i in range(ROWS)]


def test_a_list_may_be_one_array_column(tmp_path: Path) -> None:
    code, table = _score(tmp_path, _softprob, ["probabilities:array<double>"])
    assert code == 0 and table is not None
    assert table.schema.field("probabilities").type == pa.list_(pa.float64())
    assert table.column("probabilities")[1].as_py() == json.loads(_softprob(1))


def test_xgboosts_selectable_output_with_a_list_field(tmp_path: Path) -> None:
    # GIVEN SAGEMAKER_INFERENCE_OUTPUT=predicted_label,probabilities: the container writes the
    # list as a quoted CSV field (serve_utils' _encode_selected_predictions_csv)
    line = lambda i: f'{i % 2},"[{0.1 * (i % 3):.1f}, {1 - 0.1 * (i % 3):.1f}]"'  # noqa: E731
    code, table = _score(tmp_path, line, ["predicted_label:bigint", "probabilities:array<double>"])
    # THEN the label is a bigint column and the probabilities one array column
    assert code == 0 and table is not None
    assert table.schema.field("predicted_label").type == pa.int64()
    assert table.column("probabilities")[2].as_py() == [0.2, 0.8]
    assert table.column("predicted_label").to_pylist()[:3] == [0, 1, 0]


def test_undeclared_lists_are_refused_not_kept_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN softprob lines and no prediction_columns (the table declares one double column)
    code, _ = _score(tmp_path, _softprob, None)
    # THEN one line says what to declare
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "the model answered 3 column(s) but prediction_columns names none" in err


def test_json_objects_become_declared_columns(tmp_path: Path) -> None:
    def line(i: int) -> str:
        return json.dumps({"score": i / 10, "label": f"c{i % 2}", "votes": [i, 1]})

    code, table = _score(tmp_path, line, ["label:string", "score", "votes:array<bigint>"])
    assert code == 0 and table is not None
    assert table.column_names[1:4] == ["label", "score", "votes"]
    assert table.column("label").to_pylist() == [f"c{i % 2}" for i in range(ROWS)]
    assert table.schema.field("votes").type == pa.list_(pa.int64())


@pytest.mark.parametrize(
    ("line", "columns", "message"),
    [
        (lambda i: json.dumps({"label": "x"}), None, "JSON objects with keys label but"),
        (lambda i: json.dumps({"a": 1, "b": 2}), ["a"], "keys a, b but prediction_columns names a"),
        (lambda i: f"c{i}", None, "'c0' in column prediction is not a double; declare its type"),
        (lambda i: "1" if i else "[1]", ["a"], "line 2: '1' is not a list"),
        (lambda i: "1,2" if i else "1", ["a", "b"], "'1' does not have the 2 values"),
        (lambda i: "yes", ["ok:boolean"], "'yes' in column ok is not a boolean"),
    ],
)
def test_predictions_that_do_not_fit_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: Callable[[int], str],
    columns: list[str] | None, message: str,
) -> None:  # fmt: skip
    code, _ = _score(tmp_path, line, columns)
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("line", "columns", "expected"),
    [
        (lambda i: str(i % 2), None, (pa.float64(), [0.0, 1.0, 0.0, 1.0, 0.0])),
        (lambda i: f"{i % 2}.0", ["label:bigint"], (pa.int64(), [0, 1, 0, 1, 0])),
        (lambda i: "True" if i % 2 else "false", ["ok:boolean"], (pa.bool_(), [False, True] * 2 +
                                                                   [False])),
        (lambda i: f"cat{i}", ["kind:string"], (pa.string(), [f"cat{i}" for i in range(ROWS)])),
    ],
)  # fmt: skip
def test_single_values_take_the_declared_type(
    tmp_path: Path, line: Callable[[int], str], columns: list[str] | None, expected: Any
) -> None:
    # GIVEN one value per line  WHEN postprocessing  THEN the column has the table's type
    code, table = _score(tmp_path, line, columns)
    assert code == 0 and table is not None
    column = table.column(1)
    assert (column.type, column.to_pylist()) == expected


def test_the_step_and_the_stage_file_know_the_same_types() -> None:
    assert set(postprocess.PREDICTION_TYPES) == set(PREDICTION_TYPES)


def test_undeclared_integer_predictions_match_the_tables_double(tmp_path: Path) -> None:
    # GIVEN a classifier answering 0/1 and no prediction_columns: the table says double
    code, table = _score(tmp_path, lambda i: str(i % 2), None)
    assert code == 0 and table is not None
    assert pd.api.types.is_float_dtype(table.to_pandas()["prediction"])


def test_array_lines_are_read_as_json(tmp_path: Path) -> None:
    # GIVEN lists of labels whose text holds a comma, and rows answering an empty list
    def line(i: int) -> str:
        return json.dumps(["a,x", f"b{i}"] if i % 2 else [])

    code, table = _score(tmp_path, line, ["top:array<string>"])
    # THEN each list is the JSON list: the quoted comma is kept, [] is empty (not [null])
    assert code == 0 and table is not None
    assert table.column("top").to_pylist() == [["a,x", f"b{i}"] if i % 2 else [] for i in
                                                range(ROWS)]  # fmt: skip


def test_an_array_line_that_is_not_a_json_list_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _score(tmp_path, lambda i: "['a', 'b']" if i == 3 else '["c"]', ["top:array<string>"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "line 4: \"['a', 'b']\" in column top is not a JSON list of string" in err, err


@pytest.mark.parametrize(
    ("line", "columns", "message"),
    [
        (lambda i: "nan" if i == 2 else str(i), None, "prediction 3 has nan for prediction"),
        (lambda i: "-inf" if i == 4 else str(i), None, "prediction 5 has -inf for prediction"),
        (
            lambda i: "1," if i == 1 else "1,0.5",
            ["label", "score"],
            "prediction 2 has no value for score",
        ),
        (
            lambda i: json.dumps({"label": 1} if i == 3 else {"label": 1, "score": 0.5}),
            ["label:bigint", "score"],
            "prediction 4 has no value for score",
        ),
        (
            lambda i: "[0.1, NaN]" if i == 2 else "[0.1, 0.9]",
            ["p:array<double>"],
            "prediction 3 has [0.1, nan] for p",
        ),
    ],
    ids=["nan", "inf", "empty-cell", "missing-key", "nan-in-list"],
)
def test_a_prediction_that_is_not_a_finite_value_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: Callable[[int], str],
    columns: list[str] | None, message: str,
) -> None:  # fmt: skip
    # GIVEN a model answering NaN, an infinity, or nothing for one row (as XGBoost's selectable
    # output writes `0,nan` for a probability its objective lacks): nothing is published
    code, table = _score(tmp_path, line, columns)
    err = capsys.readouterr().err
    # THEN Postprocess fails in one line naming the prediction and the column
    assert (code, table) == (1, None) and message in err and err.count("\n") == 1, err


def test_na_is_not_a_double(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a model answering NA: not a double, refused in one line
    code, _ = _score(tmp_path / "na", lambda i: "NA" if i == 2 else str(i), None)
    err = capsys.readouterr().err
    assert code == 1 and "'NA' in column prediction is not a double" in err, err


@pytest.mark.parametrize("columns", [None, ["score"]], ids=["undeclared", "declared"])
def test_one_json_list_per_request_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], columns: list[str] | None
) -> None:
    # GIVEN a model whose output_fn answers json.dumps(predictions): one list per request
    # WHEN Postprocess reads it
    code, _ = _score_shards(tmp_path, lambda ids: json.dumps([0.5] * len(ids)) + "\n", columns)
    # THEN the one line says what the model did and what to change (not "name 4 columns")
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "the model answered one JSON list of" in err and "one line per row" in err, err
