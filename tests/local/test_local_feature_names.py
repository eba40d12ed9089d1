"""A model that records its feature names is refused, before any request, when the rows it
would be sent name their columns in another order: the serving containers do not check and
score silently wrong. Models trained here on columns that are not the demo's."""

from __future__ import annotations

import warnings
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.local import RunOptions, run_definition
from pipelines.local.feature_names import recorded_names
from tests.local.local_helpers import (
    BUCKET,
    PYTORCH_IMAGE,
    SKLEARN_IMAGE,
    XGBOOST_IMAGE,
    _joblib_bytes,
    get,
    put,
    register_containers,
    register_package,
    transform_definition,
)

NAMES = ("dose_mg", "weight_kg", "pulse", "age_years")
SWAPPED = ("weight_kg", "dose_mg", "pulse", "age_years")
ROWS = np.random.default_rng(7).normal(size=(200, 4))
LABELS = (ROWS[:, 0] - 2 * ROWS[:, 1] > 0).astype(int)
BODY = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in ROWS[:50])


def _run(sess: boto3.Session, arn: str, expected: tuple[str, ...]) -> tuple[Any, bytes | None]:
    put(sess, "input/rows.csv", BODY)
    sess.client("s3").delete_object(Bucket=BUCKET, Key="output/rows.csv.out")  # a former run's
    result = run_definition(
        transform_definition(), parameters={}, session=sess, model_package_arn=arn,
        log=lambda _: None, options=RunOptions(expected_features=expected),
    )  # fmt: skip
    try:
        return result, get(sess, "output/rows.csv.out")
    except sess.client("s3").exceptions.NoSuchKey:
        return result, None


def _algorithm(sess: boto3.Session, names: tuple[str, ...] | None) -> tuple[str, xgb.Booster]:
    matrix = xgb.DMatrix(ROWS, label=LABELS, feature_names=list(names) if names else None)
    booster = xgb.train({"objective": "binary:logistic"}, matrix, 8)
    with warnings.catch_warnings():  # "saving in UBJSON as default"
        warnings.simplefilter("ignore")
        model = bytes(booster.save_raw("ubj"))
    container = {"Image": XGBOOST_IMAGE, "Framework": "XGBOOST", "files": {"xgboost-model": model}}
    return register_containers(sess, [container], group="xgb-names"), booster


def _refused(result: Any, out: bytes | None) -> str:
    assert result.status == "Failed" and out is None  # refused before the first request
    reason = next(step.failure_reason for step in result.steps if step.failure_reason)
    assert "\n" not in reason
    return str(reason)


def test_a_booster_with_names_refuses_another_order(session: boto3.Session) -> None:
    # GIVEN the built-in algorithm with a booster trained on named features
    arn, _ = _algorithm(session, NAMES)
    # WHEN the rows it is sent name two of them swapped
    result, out = _run(session, arn, SWAPPED)
    # THEN the step fails in one line naming both orders and the fix
    reason = _refused(result, out)
    assert ",".join(NAMES) in reason and ",".join(SWAPPED) in reason
    assert "feature_columns" in reason and "position 1" in reason


def test_a_booster_with_names_scores_its_own_order(session: boto3.Session) -> None:
    # GIVEN the same kind of booster  WHEN sent its own order  THEN it scores as trained
    arn, booster = _algorithm(session, NAMES)
    result, out = _run(session, arn, NAMES)
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None
    expected = booster.predict(xgb.DMatrix(ROWS[:50], feature_names=list(NAMES)))
    np.testing.assert_allclose([float(v) for v in out.split()], expected, rtol=1e-5)


def test_a_booster_without_names_is_not_checked(session: boto3.Session) -> None:
    # GIVEN a booster trained on a bare array (it records no names)
    arn, _ = _algorithm(session, None)
    # WHEN sent any names  THEN it scores every row
    result, out = _run(session, arn, SWAPPED)
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None and len(out.split()) == 50


def test_names_spelled_otherwise_are_scored_by_position_with_a_note(
    session: boto3.Session,
) -> None:
    # GIVEN a booster trained on Dose_MG, Weight_KG, ... (the training frame's spelling) and
    # inputs whose headers spell them in lower case, in the same order
    arn, booster = _algorithm(session, tuple(name.title() for name in NAMES))
    lines: list[str] = []
    put(session, "input/rows.csv", BODY)
    result = run_definition(
        transform_definition(), parameters={}, session=session, model_package_arn=arn,
        log=lines.append, options=RunOptions(expected_features=NAMES),
    )  # fmt: skip
    # THEN it scores every row by position, as SageMaker does, and says it did so
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    out = get(session, "output/rows.csv.out")
    expected = booster.predict(xgb.DMatrix(ROWS[:50]), validate_features=False)
    np.testing.assert_allclose([float(v) for v in out.split()], expected, rtol=1e-5)
    assert any("scored by position, as SageMaker does" in line for line in lines), lines


def test_a_model_of_another_width_is_refused(session: boto3.Session) -> None:
    # GIVEN a booster trained on the four named features  WHEN sent three names
    arn, _ = _algorithm(session, NAMES)
    result, out = _run(session, arn, NAMES[:3])
    # THEN it is refused before a request (its width is not the rows')
    assert ",".join(NAMES) in _refused(result, out)


def _sklearn(sess: boto3.Session, frame: bool) -> tuple[str, LogisticRegression]:
    features = pd.DataFrame(ROWS, columns=list(NAMES)) if frame else ROWS
    model = LogisticRegression().fit(features, LABELS)
    return register_package(sess, model, group="sklearn-names"), model


def test_a_scikit_learn_model_fitted_on_a_frame_refuses_another_order(
    session: boto3.Session,
) -> None:
    # GIVEN a scikit-learn model in script mode fitted on a DataFrame (feature_names_in_)
    arn, _ = _sklearn(session, frame=True)
    # WHEN sent the swapped order  THEN refused in one line naming both orders
    result, out = _run(session, arn, SWAPPED)
    reason = _refused(result, out)
    assert ",".join(NAMES) in reason and ",".join(SWAPPED) in reason


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")  # as the container
def test_a_scikit_learn_model_fitted_on_a_frame_scores_its_own_order(
    session: boto3.Session,
) -> None:
    # GIVEN the same model  WHEN sent its own order  THEN its labels come back
    arn, model = _sklearn(session, frame=True)
    result, out = _run(session, arn, NAMES)
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None
    expected = model.predict(pd.DataFrame(ROWS[:50], columns=list(NAMES)))
    assert [int(float(v)) for v in out.split()] == list(expected)


def test_a_scikit_learn_model_fitted_on_an_array_is_not_checked(session: boto3.Session) -> None:
    # GIVEN a model fitted on a bare array  WHEN sent any names  THEN it scores every row
    arn, _ = _sklearn(session, frame=False)
    result, out = _run(session, arn, SWAPPED)
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None and len(out.split()) == 50


TOOLKIT_MODULE = """
import io, os
import joblib
import numpy as np

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def transform_fn(model, data, content_type, accept):
    rows = np.loadtxt(io.StringIO(data), delimiter=",", ndmin=2)
    return "".join(f"{v}\\n" for v in model.predict(rows).tolist()), accept
"""


def _container(image: str, framework: str, model: Any, module: str) -> dict[str, Any]:
    files = {"model.joblib": _joblib_bytes(model), "code/inference.py": module}
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    return {"Image": image, "Framework": framework, "Environment": env, "files": files}


def test_an_inference_toolkit_model_is_checked_too(session: boto3.Session) -> None:
    # GIVEN a PyTorch-image package whose model_fn loads a model fitted on a DataFrame
    model = LogisticRegression().fit(pd.DataFrame(ROWS, columns=list(NAMES)), LABELS)
    toolkit = _container(PYTORCH_IMAGE, "PYTORCH", model, TOOLKIT_MODULE)
    arn = register_containers(session, [toolkit], group="toolkit-names")
    # WHEN sent the swapped order  THEN refused in one line naming both orders
    reason = _refused(*_run(session, arn, SWAPPED))
    assert ",".join(NAMES) in reason and ",".join(SWAPPED) in reason


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")  # as the container
def test_only_the_first_container_of_a_pipeline_is_checked(session: boto3.Session) -> None:
    # GIVEN an inference pipeline: a model fitted on a DataFrame, then one fitted on one column
    # named otherwise (it receives the first one's labels, not the features)
    first = LogisticRegression().fit(pd.DataFrame(ROWS, columns=list(NAMES)), LABELS)
    second = LogisticRegression().fit(pd.DataFrame({"label": LABELS}), LABELS)
    containers = [_container(SKLEARN_IMAGE, "SKLEARN", model, TOOLKIT_MODULE)
                  for model in (first, second)]  # fmt: skip
    arn = register_containers(session, containers, group="pipeline-names")
    # WHEN sent the first model's order  THEN it runs
    result, out = _run(session, arn, NAMES)
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None and len(out.split()) == 50
    # WHEN sent another order  THEN the first container is named in the refusal
    reason = _refused(*_run(session, arn, SWAPPED))
    assert reason.startswith("container 1 of 2") and ",".join(SWAPPED) in reason


@pytest.mark.parametrize(
    ("model", "names"),
    [
        (make_pipeline(StandardScaler(), LogisticRegression()), NAMES),  # a scikit-learn pipeline
        (xgb.XGBClassifier(n_estimators=3), NAMES),  # an XGBModel: its booster's names
        (xgb.XGBClassifier(n_estimators=3), None),  # fitted on an array
        (LogisticRegression(), None),  # never fitted
    ],
)
def test_recorded_names_of_each_model_type(model: Any, names: tuple[str, ...] | None) -> None:
    # GIVEN a model fitted on a frame, on an array, or not at all
    if model.__class__ is not LogisticRegression:
        data = pd.DataFrame(ROWS, columns=list(NAMES)) if names else ROWS
        model.fit(data, LABELS)
    # WHEN reading its recorded names  THEN they are the frame's columns, or none
    assert recorded_names(model) == names


def test_the_expected_features_come_from_the_environment() -> None:
    # GIVEN LOCAL_RUNNER_EXPECTED_FEATURES  WHEN reading options  THEN a tuple of names
    options = RunOptions.from_env({"LOCAL_RUNNER_EXPECTED_FEATURES": "dose_mg,pulse"})
    assert options.expected_features == ("dose_mg", "pulse")
    assert RunOptions.from_env({}).expected_features == ()
