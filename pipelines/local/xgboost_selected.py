"""The XGBoost algorithm's selectable inference output (``SAGEMAKER_INFERENCE_OUTPUT``), as
``algorithm_mode/serve_utils.py`` of aws/sagemaker-xgboost-container computes and encodes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from pipelines.local.container import InvocationError

NAN = float("nan")
CLASSIFIERS = ("predicted_label", "labels", "raw_score", "raw_scores")
VALID_KEYS = {
    **dict.fromkeys(
        ("reg:squarederror", "reg:logistic", "reg:gamma", "reg:absoluteerror", "reg:tweedie"),
        ("predicted_score",),
    ),
    "binary:logistic": (*CLASSIFIERS, "probability", "probabilities"),
    "binary:logitraw": CLASSIFIERS,
    "binary:hinge": CLASSIFIERS,
    "multi:softmax": CLASSIFIERS,
    "multi:softprob": (*CLASSIFIERS, "probability", "probabilities"),
}


def _label(objective: str, raw: Any) -> Any:
    if objective in ("binary:hinge", "multi:softmax"):
        return raw.item()
    if objective == "binary:logistic":
        return int(raw > 0.5)
    if objective == "binary:logitraw":
        return int(raw > 0)
    return np.argmax(raw).item() if objective == "multi:softprob" else NAN


def _pair(raw: Any) -> list[float]:
    return [1.0 - raw.item(), raw.item()]


def _value(key: str, objective: str, raw: Any, num_class: str) -> Any:
    softprob = objective == "multi:softprob"
    scalar = ("binary:logitraw", "binary:hinge", "binary:logistic", "multi:softmax")
    values: dict[str, Callable[[], Any]] = {
        "predicted_label": lambda: _label(objective, raw),
        "labels": lambda: [0, 1] if objective.startswith("binary:") else (
            list(range(int(num_class))) if objective.startswith("multi:") and num_class else NAN
        ),
        "probability": lambda: max(raw).item() if softprob else (
            raw.item() if objective == "binary:logistic" else NAN
        ),
        "probabilities": lambda: raw.tolist() if softprob else (
            _pair(raw) if objective == "binary:logistic" else NAN
        ),
        "raw_score": lambda: max(raw).item() if softprob else (
            raw.item() if objective in scalar else NAN
        ),
        "raw_scores": lambda: raw.tolist() if softprob else (
            _pair(raw) if objective in scalar else NAN
        ),
        "predicted_score": lambda: raw.item(),
    }  # fmt: skip
    return values[key]() if key in VALID_KEYS[objective] and key in values else NAN


def encode_selected(
    predictions: np.ndarray, keys: list[str], objective: str, num_class: str, accept: str
) -> str:
    """The selected keys of every prediction, encoded for ``accept`` (batch: CSV ends in \\n)."""
    if objective not in VALID_KEYS:
        raise InvocationError(f"Objective `{objective}` unsupported for selectable inference", 500)
    selected = [{k: _value(k, objective, raw, num_class) for k in keys} for raw in predictions]
    if accept == "application/json":
        return json.dumps({"predictions": selected})
    if accept == "application/jsonlines":
        return "".join(json.dumps(entry) + "\n" for entry in selected)
    if accept == "text/csv":
        lines = (
            ",".join(f'"{v}"' if isinstance(v, list) else str(v) for v in (e[k] for k in keys))
            for e in selected
        )
        return "\n".join(lines) + "\n"
    raise InvocationError(f"Cannot encode selected predictions into accept type '{accept}'.", 500)
