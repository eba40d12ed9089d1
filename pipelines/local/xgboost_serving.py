"""AWS's XGBoost container, in-process, with the real ``xgboost`` package.

Emulated from aws/sagemaker-xgboost-container (its serving code is not on PyPI and its
sagemaker-containers dependency does not import on Python 3.10+):

- built-in algorithm (no ``SAGEMAKER_PROGRAM``; ``algorithm_mode/serve.py``, ``serve_utils.py``):
  every non-dot file at the root of the model archive is a model (``xgboost-model``), loaded as a
  pickle, else with ``Booster.load_model``; several files are an ensemble (mean, or vote for
  ``multi:softmax``/``binary:hinge``) unless ``SAGEMAKER_INFERENCE_ENSEMBLE`` is not ``true``.
  Requests: CSV without header (delimiter sniffed from the first line, empty cells missing) or
  libsvm (the default without Content-Type); an empty body answers 204; batch responses are one
  ``str()`` of each prediction per line (``[0.1, 0.2, 0.7]`` for multi-output objectives), or
  the ``SAGEMAKER_INFERENCE_OUTPUT`` keys.
- script mode (``serving.py``): sagemaker-containers' hook rules with a ``DMatrix`` from the
  default ``input_fn`` and ``model.predict(data, validate_features=False)``; the module's
  ``execution_parameters_fn`` is not served.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.local import codecs
from pipelines.local.container import (
    Defaults,
    InvocationError,
    Response,
    first_line,
    whole_number,
)
from pipelines.local.errors import LOCAL_PACKAGES, StepError

LIBSVM_TYPES = ("libsvm", "text/libsvm", "text/x-libsvm")
CSV_TYPES = ("csv", "text/csv")
SUPPORTED_ACCEPTS = ("application/json", "application/jsonlines", "text/csv",
                     "application/x-recordio-protobuf")  # fmt: skip
DEFAULT_MAX_CONTENT_LENGTH = 6 * 1024 * 1024  # MAX_CONTENT_LENGTH of serve.py (Flask: 413)
VOTED = ("multi:softmax", "binary:hinge")


def import_xgboost() -> Any:
    """The ``xgboost`` module, or one line saying how to install it."""
    try:
        import xgboost
    except ImportError as err:
        raise StepError(
            f"serving an XGBoost model locally needs the xgboost package: {LOCAL_PACKAGES}"
        ) from err
    return xgboost


def parse_header(value: str) -> tuple[str, dict[str, str]]:
    """``cgi.parse_header`` (gone in Python 3.13) for media types: type and parameters."""
    media, *rest = value.split(";")
    params = {}
    for item in rest:
        key, _, val = item.partition("=")
        params[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


def csv_rows(text: str, dtype: Any) -> np.ndarray:
    """The container's CSV decoder: delimiter sniffed, ``""`` is NaN, rows split on ``\\n``."""
    sniffed = csv.Sniffer().sniff(text.split("\n")[0][:512]).delimiter
    delimiter = "," if sniffed.isalnum() else sniffed
    if delimiter == "," and '"' not in text and "\r" not in text:
        fast = _fast_csv(text)
        if fast is not None:
            return fast
    rows = [["nan" if cell == "" else cell for cell in line.split(delimiter)]
            for line in text.split("\n")]  # fmt: skip
    return np.array(rows).astype(dtype)


def _fast_csv(text: str) -> np.ndarray | None:
    """The same float64 values through Arrow's parser (correctly rounded like Python's float),
    or None where it would read the text differently (then the container's way runs)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, quote_char=False),
            convert_options=pacsv.ConvertOptions(null_values=[""], strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != text.count("\n") + 1:
        return None
    if not all(pa.types.is_floating(c.type) or pa.types.is_integer(c.type) for c in table.columns):
        return None
    rows = np.empty((table.num_rows, table.num_columns), dtype=np.float64)
    for index, column in enumerate(table.columns):
        rows[:, index] = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return rows


def libsvm_matrix(text: str) -> Any:
    """libsvm rows (``label i:v ...``; 1-based indices shift to 0-based) as a sparse matrix."""
    from scipy.sparse import csr_matrix

    rows, cols, data = [], [], []
    for index, line in enumerate(text.split("\n")):
        for item in line.split(" "):
            if ":" in item:
                column, value = item.split(":")[:2]
                rows.append(index)
                cols.append(int(column))
                data.append(value)
    columns = np.array(cols).astype(int)
    if len(columns) and columns.min() >= 1:
        columns = columns - 1
    return csr_matrix((np.array(data).astype(float), (np.array(rows), columns)))


def load_boosters(model_dir: Path, xgb: Any, ensemble: bool) -> tuple[list[Any], list[str]]:
    """Every model file at the root of the archive (the first only without ensemble)."""
    paths = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not paths:
        raise StepError(
            "the model archive has no file at its root; the XGBoost algorithm loads every file "
            "there (save the booster as xgboost-model at the root of model.tar.gz)"
        )
    boosters, formats = [], []
    for path in paths if ensemble else paths[:1]:
        try:
            with path.open("rb") as handle:
                booster, kind = pickle.load(handle), "pkl"
        except Exception as pickled:
            booster, kind = xgb.Booster(), "xgb"
            try:
                with warnings.catch_warnings():  # "unknown file format: using UBJSON as a guess"
                    warnings.simplefilter("ignore")
                    booster.load_model(str(path))
            except Exception as native:
                raise StepError(
                    f"model file {path.name} is neither a pickled booster "
                    f"({type(pickled).__name__}) nor an XGBoost model "
                    f"({first_line(str(native), 160)}); save it with "
                    "Booster.save_model, or keep only model files at the archive's root"
                ) from native
        if not hasattr(booster, "save_config"):
            raise StepError(
                f"model file {path.name} unpickles to {type(booster).__name__}, not an XGBoost "
                "Booster; save model.get_booster() instead"
            )
        boosters.append(booster)
        formats.append(kind)
    return boosters, formats


class XGBoostAlgorithm:
    """The built-in algorithm's /invocations for batch transform (SAGEMAKER_BATCH is set)."""

    def __init__(self, model_dir: Path, environment: Mapping[str, str]) -> None:
        self._xgb = import_xgboost()
        ensemble = environment.get("SAGEMAKER_INFERENCE_ENSEMBLE", "true") == "true"
        self._boosters, self._formats = load_boosters(model_dir, self._xgb, ensemble)
        config = json.loads(self._boosters[0].save_config())
        self.objective = str(config["learner"]["objective"]["name"])
        self.num_class = config["learner"]["learner_model_param"].get("num_class", "")
        self._default_accept = environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
        self._max_length = whole_number(
            environment, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, "bytes"
        )
        selected = environment.get("SAGEMAKER_INFERENCE_OUTPUT")
        self._selected = selected.replace(" ", "").lower().split(",") if selected else None
        self._lock = threading.Lock()  # the container loads a booster per worker process

    def loaded_models(self) -> list[Any]:
        """The boosters it scores with."""
        return list(self._boosters)

    def execution_parameters(self) -> dict[str, Any]:
        """What the container's GET /execution-parameters answers."""
        return {
            "MaxConcurrentTransforms": os.cpu_count() or 1,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": self._max_length // (1024 * 1024),
        }

    def _matrix(self, body: bytes, content_type: str | None) -> tuple[Any, str]:
        media, params = parse_header((content_type or "text/x-libsvm").lower())
        try:
            if media in CSV_TYPES:
                if params.get("label_size", "1") != "1":
                    raise ValueError(f"{content_type} is not an accepted csv ContentType")
                return self._xgb.DMatrix(csv_rows(body.strip().decode("utf-8"), float)), "csv"
            if media in LIBSVM_TYPES:
                return self._xgb.DMatrix(libsvm_matrix(body.strip().decode("utf-8"))), "libsvm"
        except Exception as err:
            raise InvocationError(f"Loading {media} data failed: {err}", 415) from err
        raise InvocationError(f"Content-type {content_type} is not supported locally", 415)

    def _check_width(self, matrix: Any, kind: str) -> None:
        """serve_utils.predict, pickles only: libsvm may have one column more than the model;
        CSV as many, or one fewer (x == y or x == y + 1, x the model's count)."""
        if self._formats[0] != "pkl":
            return
        model, data = self._boosters[0].num_features(), matrix.num_col()
        if kind == "libsvm" and data > model + 1:
            problem = "is larger than"
        elif kind == "csv" and model not in (data, data + 1):
            problem = "is not consistent with"
        else:
            return
        raise InvocationError(
            f"Unable to evaluate payload provided: Feature size of {kind} inference data {data} "
            f"{problem} feature size of trained model {model}.",
            400,
        )

    def _predict(self, matrix: Any) -> np.ndarray:
        with self._lock:
            scores = [b.predict(matrix, validate_features=False) for b in self._boosters]
        if len(scores) == 1:
            return np.asarray(scores[0])
        if self.objective in VOTED:
            from scipy import stats

            return np.asarray(stats.mode(scores).mode)
        return np.asarray(np.mean(scores, axis=0))

    def _accept(self, accept: str | None) -> str:
        media, _ = parse_header(accept or "")
        if not media or media == "*/*":
            return self._default_accept
        if media not in SUPPORTED_ACCEPTS:
            raise InvocationError(f"Accept type {accept} is not supported.", 406)
        return media

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Response:
        """POST /invocations of ``serve.py`` with SAGEMAKER_BATCH set."""
        if len(body) > self._max_length:  # serve.py's answer; the rest of the line is the fix
            raise InvocationError(
                f"Request Entity Too Large: {len(body)} bytes, above the XGBoost container's "
                f"MAX_CONTENT_LENGTH of {self._max_length} (6 MiB unless the package sets it): "
                f"set max_payload_mb to {self._max_length // (1024 * 1024)} or less, or "
                "MAX_CONTENT_LENGTH in the package's Environment",
                413,
            )
        if not body:
            return Response(b"", "text/html; charset=utf-8")  # 204 No Content
        matrix, kind = self._matrix(body, content_type)
        self._check_width(matrix, kind)
        try:
            predictions = self._predict(matrix)
        except Exception as err:
            raise InvocationError(f"Unable to evaluate payload provided: {err}", 400) from err
        media = self._accept(accept)
        if self._selected is not None:
            from pipelines.local.xgboost_selected import encode_selected

            text = encode_selected(predictions, self._selected, self.objective, self.num_class,
                                   media)  # fmt: skip
            return Response(text.encode("utf-8"), media)
        lines = "\n".join(map(str, predictions.tolist())) + "\n"
        return Response(lines.encode("utf-8"), media)


def libsvm_dense(text: str) -> np.ndarray:
    """Script mode's libsvm decoder: dense rows, absent indices 0 (not missing)."""
    rows = []
    for line in text.strip().split("\n"):
        row: dict[int, float] = {}
        for token in line.strip().split():
            if ":" in token:
                key, text = token.split(":", 1)
                row[int(key)] = float(text)
        rows.append(row)
    if not any(rows):
        return np.empty((0, 0))
    offset = 1 if min(i for row in rows for i in row) >= 1 else 0
    data = np.zeros((len(rows), max(i for row in rows for i in row) - offset + 1))
    for number, row in enumerate(rows):
        for column, number_value in row.items():
            data[number, column - offset] = number_value
    return data


def _default_input_fn(body: str | bytes, content_type: str) -> Any:
    """sagemaker_xgboost_container.encoder.decode: CSV (not stripped) or libsvm -> DMatrix."""
    xgb = import_xgboost()
    media, _ = parse_header(content_type)
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if media == "text/csv":
        return xgb.DMatrix(csv_rows(text, None))
    if media in ("text/libsvm", "text/x-libsvm"):
        return xgb.DMatrix(libsvm_dense(text))
    raise codecs.UnsupportedFormatError(f"Content type {media} is not supported by this framework")


def _default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data, validate_features=False)


# serving.main builds its worker without execution_parameters_fn (aws/sagemaker-xgboost-container
# serving.py): /execution-parameters answers 404 and the job's settings or the defaults apply.
SCRIPT_DEFAULTS = Defaults(
    _default_input_fn,
    _default_predict_fn,
    codecs.default_output_fn,
    serves_execution_parameters=False,
)
