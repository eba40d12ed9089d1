"""The default decoders and encoders of the scikit-learn serving container.

They mirror sagemaker-containers 2.8.6 ``_encoders`` on purpose, quirks included: exact
media-type matching, CSV read with ``csv.reader`` and ``.squeeze()``d (one row becomes 1-D),
no header or missing-value handling, ``json.dumps`` of ``.tolist()`` for JSON.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

CSV = "text/csv"
JSON = "application/json"
NPY = "application/x-npy"
UTF8_TYPES = (CSV, JSON)


class UnsupportedFormatError(ValueError):
    """No default decoder or encoder exists for a media type (exact match)."""


def _csv_to_numpy(text: str) -> np.ndarray:
    reader = csv.reader(
        io.StringIO(text), delimiter=",", quotechar='"', doublequote=True, strict=True
    )
    array = np.array(list(reader)).squeeze()
    try:
        return array.astype(None)
    except ValueError:
        return array  # the container swallows this and the float32 cast fails next


def _json_to_numpy(text: str) -> np.ndarray:
    return np.array(json.loads(text))


def _npy_to_numpy(data: bytes) -> np.ndarray:
    return np.asarray(np.load(io.BytesIO(data), allow_pickle=True))


def decode(body: str | bytes, content_type: str) -> np.ndarray:
    """Decode a request body by its exact Content-Type."""
    if content_type == CSV:
        return _csv_to_numpy(body if isinstance(body, str) else body.decode("utf-8"))
    if content_type == JSON:
        return _json_to_numpy(body if isinstance(body, str) else body.decode("utf-8"))
    if content_type == NPY:
        return _npy_to_numpy(body.encode("utf-8") if isinstance(body, str) else body)
    raise UnsupportedFormatError(f"Content type {content_type} is not supported by this framework")


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(prediction: Any, accept: str) -> str | bytes:
    """Encode a prediction by its exact Accept type."""
    if accept == JSON:
        return json.dumps(prediction, default=_default)
    if accept == CSV:
        array = np.array(prediction)
        if array.ndim == 1:
            array = array.reshape(array.shape[0], 1)
        stream = io.StringIO()
        writer = csv.writer(
            stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True, strict=True
        )
        writer.writerows(array)
        return stream.getvalue()
    if accept == NPY:
        buffer = io.BytesIO()
        np.save(buffer, prediction)
        return buffer.getvalue()
    raise UnsupportedFormatError(f"Accept type {accept} is not supported by this framework")


def default_input_fn(body: str | bytes, content_type: str) -> np.ndarray:
    """The sklearn container's input_fn: decode, then float32 for CSV and JSON."""
    array = decode(body, content_type)
    return array.astype(np.float32) if content_type in UTF8_TYPES else array


def default_predict_fn(data: Any, model: Any) -> Any:
    """The sklearn container's predict_fn."""
    return model.predict(data)


def default_output_fn(prediction: Any, accept: str) -> tuple[str | bytes, str]:
    """The sklearn container's output_fn: body and response media type."""
    return encode(prediction, accept), accept
