"""Inference module of the demo model, and a template for your own.

The SageMaker scikit-learn serving container (and ``pipelines.local``) import this module by the
name in ``SAGEMAKER_PROGRAM`` and call four hooks for every request:

``model_fn(model_dir)``
    Once per worker: load the model from the extracted model.tar.gz.
``input_fn(body, content_type)``
    Decode one request. ``body`` is ``str`` for ``text/csv`` and ``application/json`` and
    ``bytes`` otherwise. Returns a 2-D table, even for a single row (the container's default
    decoder squeezes one CSV row to 1-D and the request fails; this one does not).
``predict_fn(data, model)``
    The positive-class score, one value per row.
``output_fn(prediction, accept)``
    Encode the scores: CSV one value per line (shortest round-trip form), or a JSON list.

Only numpy, pandas, pyarrow (for Parquet), joblib and scikit-learn are needed.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

CSV = "text/csv"
JSON = "application/json"
PARQUET = "application/x-parquet"
MODEL_FILE = "model.joblib"
_CSV_READ = pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False)
_CSV_WRITE = pacsv.WriteOptions(include_header=False)


def _media_type(value: str | None) -> str:
    """Return the bare media type: ``text/csv; charset=utf-8`` -> ``text/csv``."""
    return (value or "").split(";", 1)[0].strip().lower()


def _as_bytes(body: str | bytes | bytearray) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def model_fn(model_dir: str) -> Any:
    """Load ``model.joblib`` from the root of the extracted model archive."""
    return joblib.load(os.path.join(model_dir, MODEL_FILE))


def _csv_rows(body: str | bytes | bytearray) -> np.ndarray:
    """Headerless numeric CSV -> float32 rows, parsed by Arrow's C++ reader.

    One thread per request: the container already runs MaxConcurrentTransforms requests
    at once, and nested thread pools only oversubscribe the cores.
    """
    data = _as_bytes(body)
    if not data.strip():
        raise ValueError("empty text/csv payload: expected one or more rows of numbers")
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=_CSV_READ)
    except pa.ArrowInvalid as err:
        raise ValueError(f"text/csv payload is not a table of numbers: {err}") from err
    rows = np.empty((table.num_rows, table.num_columns), dtype=np.float32)
    for index, column in enumerate(table.columns):
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            raise ValueError(
                f"text/csv payload is not all numbers (column {index + 1} holds "
                f"{column.type}; no header row allowed)"
            )
        if column.null_count:
            raise ValueError(f"text/csv payload has empty values in column {index + 1}")
        rows[:, index] = column.to_numpy()
    return rows


def _json_rows(body: str | bytes | bytearray) -> np.ndarray | pd.DataFrame:
    doc = json.loads(body)
    rows = doc.get("instances") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not rows:
        raise ValueError('application/json payload must be a list of rows or {"instances": [...]}')
    if all(isinstance(row, dict) for row in rows):
        return pd.DataFrame.from_records(rows).astype(np.float32)
    return np.atleast_2d(np.asarray(rows, dtype=np.float32))


def input_fn(body: str | bytes | bytearray, content_type: str) -> np.ndarray | pd.DataFrame:
    """Decode a request body into a 2-D float32 table (ndarray, or DataFrame with names)."""
    media = _media_type(content_type)
    if media == CSV:
        return _csv_rows(body)
    if media == JSON:
        return _json_rows(body)
    if media == PARQUET:
        return pd.read_parquet(io.BytesIO(_as_bytes(body))).astype(np.float32)
    raise ValueError(f"unsupported content type {content_type!r}: send {CSV}, {JSON} or {PARQUET}")


def _with_feature_names(data: np.ndarray | pd.DataFrame, model: Any) -> Any:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return data
    if isinstance(data, pd.DataFrame):
        missing = [name for name in names if name not in data.columns]
        if not missing:
            return data[list(names)]
        if len(data.columns) != len(names):
            raise ValueError(f"input lacks model features {missing[:5]}")
        data = data.to_numpy()
    if data.shape[1] != len(names):
        raise ValueError(f"expected {len(names)} features per row, got {data.shape[1]}")
    return pd.DataFrame(data, columns=list(names), copy=False)


def predict_fn(data: np.ndarray | pd.DataFrame, model: Any) -> np.ndarray:
    """Return the positive-class probability of every row."""
    scores = model.predict_proba(_with_feature_names(data, model))[:, 1]
    return np.asarray(scores, dtype=np.float64)


def output_fn(prediction: np.ndarray, accept: str) -> str:
    """Encode scores: ``text/csv`` one value per line, ``application/json`` a JSON list."""
    media = _media_type(accept)
    values = np.asarray(prediction, dtype=np.float64).ravel()
    if media == CSV:
        out = io.BytesIO()
        pacsv.write_csv(pa.table({"score": values}), out, write_options=_CSV_WRITE)
        return out.getvalue().decode("ascii")
    if media in (JSON, "*/*", ""):
        return json.dumps(values.tolist())
    raise ValueError(f"unsupported accept type {accept!r}: ask for {CSV} or {JSON}")
