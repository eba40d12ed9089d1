"""The feature names a loaded model records, checked against the names of the columns it is
sent. The serving containers predict without validating names (the XGBoost container calls
``predict(..., validate_features=False)``), so rows in another order score silently wrong."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipelines.local.errors import StepError

SHOWN = 12  # names shown of a longer list


def _from_xgboost(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "xgboost"


def recorded_names(model: Any) -> tuple[str, ...] | None:
    """A scikit-learn estimator's ``feature_names_in_``, an XGBoost Booster's ``feature_names``
    or an XGBModel's booster's; None for a model that records none."""
    if _from_xgboost(model) and hasattr(model, "get_booster"):
        try:
            model = model.get_booster()
        except Exception:  # an unfitted wrapper records nothing
            return None
    if _from_xgboost(model):
        names = getattr(model, "feature_names", None)
    else:
        names = getattr(model, "feature_names_in_", None)
    return None if names is None else tuple(str(name) for name in names)


def _shown(names: Sequence[str]) -> str:
    if len(names) <= SHOWN:
        return ",".join(names)
    return ",".join(names[:SHOWN]) + f",... ({len(names)} names)"


def check_feature_names(label: str, models: Iterable[Any], expected: Sequence[str]) -> str | None:
    """Refuse in one line a model whose recorded names put a name it shares with ``expected`` at
    another position, or that records another number of names: it would score silently wrong.
    Names that differ otherwise (another spelling, `Age` for `age`) may be the same columns,
    scored by position as SageMaker does: a note is returned then (None when all is said)."""
    if not expected:
        return None
    note = None
    for model in models:
        names = recorded_names(model)
        if names is None or names == tuple(expected):
            continue
        moved = [n for n in set(names) & set(expected) if names.index(n) != expected.index(n)]
        if len(names) == len(expected) and not moved:
            note = (f"{label}: note: the model records features {_shown(names)} and is sent "
                    f"{_shown(expected)}: scored by position, as SageMaker does; check they are "
                    "the same columns")  # fmt: skip
            continue
        pairs = zip(names, expected, strict=False)
        at = next((i for i, (ours, sent) in enumerate(pairs) if ours != sent),
                  min(len(names), len(expected)))  # fmt: skip
        raise StepError(
            f"{label}: the model was trained on features {_shown(names)} but is sent "
            f"{_shown(expected)} (they first differ at position {at + 1}); it would score "
            "silently wrong: list feature_columns in the model's order (the stage's "
            "feature_columns key or the package's feature_columns metadata)"
        )
    return note
