"""The demo model's inference module: decoding, predictions and encoding."""

from __future__ import annotations

import io
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from testbed import inference

NAMES = [f"f{i:02d}" for i in range(30)]


@pytest.fixture(scope="module")
def demo_model() -> tuple[object, np.ndarray]:
    features, labels = load_breast_cancer(return_X_y=True)
    frame = pd.DataFrame(features, columns=NAMES)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(frame, labels)
    return model, features[:5]


def test_model_fn_loads_model_joblib(tmp_path: Path, demo_model: tuple[object, np.ndarray]) -> None:
    joblib.dump(demo_model[0], tmp_path / "model.joblib")
    assert type(inference.model_fn(str(tmp_path))).__name__ == "Pipeline"


def test_csv_single_row_stays_two_dimensional() -> None:
    data = inference.input_fn("1,2,3\n", "text/csv")
    assert isinstance(data, np.ndarray)
    assert data.shape == (1, 3) and data.dtype == np.float32


@pytest.mark.parametrize("body", ["", "a,b,c\n1,2,3\n", "1,,3\n4,5,6\n"])
def test_csv_empty_or_header_is_a_clear_value_error(body: str) -> None:
    with pytest.raises(ValueError, match="text/csv payload"):
        inference.input_fn(body, "text/csv")


def test_json_rows_instances_and_parquet_decode_alike() -> None:
    rows = [[1.0, 2.0], [3.0, 4.0]]
    plain = inference.input_fn(json.dumps(rows), "application/json")
    wrapped = inference.input_fn(json.dumps({"instances": rows}), "application/json")
    buffer = io.BytesIO()
    pd.DataFrame(rows, columns=["a", "b"]).to_parquet(buffer)
    parquet = inference.input_fn(buffer.getvalue(), "application/x-parquet")
    assert np.array_equal(plain, wrapped)
    assert np.array_equal(np.asarray(parquet), plain)


def test_unsupported_types_raise_value_error() -> None:
    with pytest.raises(ValueError, match="unsupported content type"):
        inference.input_fn(b"x", "application/x-npy")
    with pytest.raises(ValueError, match="unsupported accept type"):
        inference.output_fn(np.array([0.5]), "application/x-npy")


def test_predict_fn_is_the_positive_class_score(demo_model: tuple[object, np.ndarray]) -> None:
    model, rows = demo_model
    body = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)
    scores = inference.predict_fn(inference.input_fn(body, "text/csv"), model)
    expected = model.predict_proba(pd.DataFrame(rows.astype(np.float32), columns=NAMES))[:, 1]  # type: ignore[attr-defined]
    assert scores.shape == (5,)
    assert np.allclose(scores, expected)


def test_parquet_columns_are_matched_by_name(demo_model: tuple[object, np.ndarray]) -> None:
    model, rows = demo_model
    shuffled = pd.DataFrame(rows, columns=NAMES)[NAMES[::-1]]
    buffer = io.BytesIO()
    shuffled.to_parquet(buffer)
    scores = inference.predict_fn(
        inference.input_fn(buffer.getvalue(), "application/x-parquet"), model
    )
    direct = inference.predict_fn(rows.astype(np.float32), model)
    assert np.allclose(scores, direct)


def test_output_fn_csv_and_json() -> None:
    scores = np.array([0.25, 1.0, 1 / 3])
    text = inference.output_fn(scores, "text/csv")
    assert text.startswith("0.25\n1\n") and text.endswith("\n")
    assert np.array_equal(np.array(text.split(), dtype=float), scores)  # round-trips exactly
    assert json.loads(inference.output_fn(scores, "application/json")) == scores.tolist()
