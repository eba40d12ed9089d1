"""XGBoost models through the local runner: the built-in algorithm and script mode, each with a
small model trained here (the real xgboost package)."""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import xgboost as xgb

from pipelines.local import RunOptions, run_definition
from tests.local.local_helpers import (
    BUCKET,
    OWN_IMAGE,
    XGBOOST_IMAGE,
    get,
    put,
    register_containers,
    transform_definition,
)

ROWS = np.random.default_rng(1).normal(size=(300, 4))
LABELS = (ROWS[:, 0] + ROWS[:, 1] > 0).astype(int)


def _booster(objective: str = "binary:logistic", **params: Any) -> xgb.Booster:
    labels = np.digitize(ROWS[:, 0], [-0.5, 0.5]) if objective.startswith("multi") else LABELS
    return xgb.train({"objective": objective, **params}, xgb.DMatrix(ROWS, label=labels), 8)


def _model_file(booster: xgb.Booster) -> bytes:
    with warnings.catch_warnings():  # "saving in UBJSON as default": what the algorithm writes
        warnings.simplefilter("ignore")
        return bytes(booster.save_raw("ubj"))


def _run(sess: boto3.Session, arn: str, body: str, **transform: Any) -> tuple[Any, bytes | None]:
    put(sess, "input/rows.csv", body)
    options = transform.pop("options", RunOptions())
    result = run_definition(
        transform_definition(**transform),
        parameters={},
        session=sess,
        model_package_arn=arn,
        log=lambda _: None,
        options=options,
    )
    try:
        return result, get(sess, "output/rows.csv.out")
    except sess.client("s3").exceptions.NoSuchKey:
        return result, None


def _csv(rows: np.ndarray) -> str:
    return "".join(
        ",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n" for row in rows
    )


def _algorithm(sess: boto3.Session, files: dict[str, bytes], **env: str) -> str:
    container = {"Image": XGBOOST_IMAGE, "Framework": "XGBOOST", "Environment": env, "files": files}
    return register_containers(sess, [container], group="xgb-algorithm")


def test_the_builtin_algorithm_scores_csv_with_missing_cells(session: boto3.Session) -> None:
    # GIVEN a booster saved as xgboost-model (no SAGEMAKER_PROGRAM) and rows with empty cells
    booster = _booster()
    arn = _algorithm(session, {"xgboost-model": _model_file(booster)})
    rows = ROWS[:40].copy()
    rows[3, 1] = rows[7, 0] = np.nan
    # WHEN the transform runs
    result, out = _run(session, arn, _csv(rows))
    # THEN every row has its prediction, one per line, empty cells read as missing values
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None
    got = np.array([float(line) for line in out.decode().split()])
    expected = booster.predict(xgb.DMatrix(rows.astype(np.float64)))
    np.testing.assert_array_equal(got.astype(np.float32), expected)


@pytest.mark.parametrize(("limit", "refused"), [(None, True), ("9437184", False)])
def test_a_request_above_the_algorithms_limit_names_both_fixes(
    session: boto3.Session, limit: str | None, refused: bool
) -> None:
    # GIVEN the built-in algorithm (serve.py answers 413 above MAX_CONTENT_LENGTH, 6 MiB), a job
    # allowing 8 MB requests and a 6.4 MB object, the package setting no limit or a 9 MiB one
    env = {"MAX_CONTENT_LENGTH": limit} if limit else {}
    arn = _algorithm(session, {"xgboost-model": _model_file(_booster())}, **env)
    rows = np.tile(ROWS, (270, 1))  # 81,000 rows of about 80 bytes
    body = _csv(rows)
    assert 6 * 1024 * 1024 < len(body) < 8_000_000
    # WHEN the transform runs (one request: the whole object fits MaxPayloadInMB)
    result, out = _run(session, arn, body, MaxPayloadInMB=8)
    # THEN without the package's limit the object fails naming the size, the limit and both
    # fixes (it was a bare "413 (Request Entity Too Large)"); with it, every row is scored
    reason = str(result.steps[0].failure_reason or "")
    assert (result.status == "Failed") == refused, reason
    if refused:
        assert f"Request Entity Too Large: {len(body)} bytes, above the XGBoost" in reason
        assert "set max_payload_mb to 6 or less, or MAX_CONTENT_LENGTH" in reason
    else:
        assert out is not None and len(out.split()) == len(rows)


def test_multi_output_objectives_answer_a_list_per_line(session: boto3.Session) -> None:
    # GIVEN a multi:softprob booster with 3 classes
    booster = _booster("multi:softprob", num_class=3)
    arn = _algorithm(session, {"xgboost-model": _model_file(booster)})
    # WHEN the transform runs
    result, out = _run(session, arn, _csv(ROWS[:10]))
    # THEN each line is the list of the row's class probabilities, as the container prints it
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None
    lines = out.decode().strip().split("\n")
    expected = booster.predict(xgb.DMatrix(ROWS[:10]))
    assert lines == [str(row) for row in expected.tolist()]
    assert lines[0].startswith("[") and lines[0].count(",") == 2


def test_libsvm_input_and_a_pickled_booster_ensemble(session: boto3.Session) -> None:
    # GIVEN two model files (one pickled, one native): the container averages them
    first, second = _booster(), _booster(max_depth=2)
    files = {"xgboost-model": pickle.dumps(first), "xgboost-model-2": _model_file(second)}
    arn = _algorithm(session, files)
    rows = ROWS[:5]
    body = "".join(
        "0 " + " ".join(f"{i + 1}:{float(v)!r}" for i, v in enumerate(row)) + "\n" for row in rows
    )
    # WHEN libsvm rows are transformed
    result, out = _run(session, arn, body, content_type="text/libsvm")
    # THEN the predictions are the mean of both boosters
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None
    matrix = xgb.DMatrix(rows)
    expected = np.mean([first.predict(matrix), second.predict(matrix)], axis=0)
    np.testing.assert_allclose([float(v) for v in out.decode().split()], expected, rtol=1e-6)


def test_selectable_inference_output(session: boto3.Session) -> None:
    # GIVEN SAGEMAKER_INFERENCE_OUTPUT asking for the label and the probabilities
    booster = _booster()
    arn = _algorithm(
        session,
        {"xgboost-model": _model_file(booster)},
        SAGEMAKER_INFERENCE_OUTPUT="predicted_label,probabilities",
    )
    # WHEN rows are transformed
    result, out = _run(session, arn, _csv(ROWS[:3]))
    # THEN each line is the label and the quoted list, as the container's CSV encoder writes
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None
    p = booster.predict(xgb.DMatrix(ROWS[:3])).tolist()
    assert out.decode().split("\n")[:3] == [f'{int(v > 0.5)},"{[1.0 - v, v]}"' for v in p]


def test_a_bad_model_file_is_one_line(session: boto3.Session) -> None:
    # GIVEN an archive whose root holds a README next to the model (the algorithm loads both)
    arn = _algorithm(session, {"xgboost-model": _model_file(_booster()), "README": b"notes"})
    # WHEN the transform runs
    result, _ = _run(session, arn, _csv(ROWS[:3]))
    # THEN it fails before any request, naming the file and the fix, on one line
    reason = result.steps[0].failure_reason or ""
    assert result.status == "Failed"
    assert "model file README is neither a pickled booster" in reason
    assert XGBOOST_IMAGE in reason and "\n" not in reason


SCRIPT = """
import os
import xgboost as xgb

def model_fn(model_dir):
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "model.ubj"))
    return booster

def predict_fn(data, model):
    if not isinstance(data, xgb.DMatrix):
        raise TypeError(f"script mode hands predict_fn a DMatrix, got {type(data).__name__}")
    return model.predict(data)
"""


def test_script_mode_hands_the_users_hooks_a_dmatrix(session: boto3.Session) -> None:
    # GIVEN script mode (SAGEMAKER_PROGRAM) with only model_fn and predict_fn of its own
    booster = _booster()
    container = {
        "Image": XGBOOST_IMAGE,
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
        "files": {"model.ubj": _model_file(booster), "code/inference.py": SCRIPT},
    }
    arn = register_containers(session, [container], group="xgb-script")
    # WHEN the transform runs (the default CSV decoder refuses a trailing newline: strip it)
    result, out = _run(session, arn, _csv(ROWS[:20]), options=RunOptions(record_newline="strip"))
    # THEN predict_fn got a DMatrix and the default output_fn wrote one value per line
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None
    got = np.loadtxt(io.StringIO(out.decode()))
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(ROWS[:20])), rtol=1e-6)


def test_a_team_image_named_like_xgboost_is_not_awss(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a team's image whose repository is called sagemaker-xgboost, and no Docker daemon
    monkeypatch.setattr("pipelines.local.serving.docker_answers", lambda: False)
    image = OWN_IMAGE.replace("churn-server:3", "sagemaker-xgboost:1.7-1")
    container = {"Image": image, "files": {"xgboost-model": _model_file(_booster())}}
    arn = register_containers(session, [container], group="xgb-lookalike")
    # WHEN the transform runs
    result, _ = _run(session, arn, _csv(ROWS[:3]))
    # THEN it is refused as the team's own container, in one line naming the image
    reason = result.steps[0].failure_reason or ""
    assert f"{image} is the team's own container" in reason
    assert "LOCAL_SERVE_COMMAND" in reason and BUCKET not in reason


def test_a_failure_inside_xgboost_is_one_line(session: boto3.Session) -> None:
    # GIVEN a 4-feature booster saved natively (no width check before predict) and 5-column rows
    arn = _algorithm(session, {"xgboost-model": _model_file(_booster())})
    wide = np.random.default_rng(3).normal(size=(30, 5))
    # WHEN the transform runs
    result, out = _run(session, arn, _csv(wide))
    # THEN xgboost's refusal is its first line, without its C++ stack trace
    reason = result.steps[0].failure_reason or ""
    assert result.status == "Failed" and out is None
    assert "Unable to evaluate payload provided" in reason, reason
    assert "\n" not in reason and "Stack trace" not in reason, reason


@pytest.mark.parametrize(("columns", "accepted"), [(4, True), (3, True), (5, False)])
def test_a_pickled_booster_accepts_one_column_fewer_never_one_more(
    session: boto3.Session, columns: int, accepted: bool
) -> None:
    # GIVEN a pickled 4-feature booster (serve_utils.predict checks the width of pickles only:
    # the model's count x and the data's y must have x == y or x == y + 1)
    arn = _algorithm(session, {"xgboost-model": pickle.dumps(_booster())})
    rows = np.random.default_rng(4).normal(size=(20, columns))
    # WHEN rows of that width are transformed
    result, out = _run(session, arn, _csv(rows))
    # THEN one column fewer (a dropped label column) is scored, one more is refused
    reason = result.steps[0].failure_reason or ""
    assert (result.status == "Succeeded") is accepted, reason
    if accepted:
        assert out is not None and len(out.decode().split()) == 20
    else:
        expected = (
            "Unable to evaluate payload provided: Feature size of csv inference data 5 is not "
            "consistent with feature size of trained model 4."
        )
        assert expected in reason, reason


def test_script_mode_never_asks_the_module_for_execution_parameters(
    session: boto3.Session,
) -> None:
    # GIVEN an XGBoost script-mode module that defines execution_parameters_fn: the container's
    # serving.main builds its worker without it, so /execution-parameters answers 404
    module = SCRIPT + (
        "\ndef execution_parameters_fn():\n"
        "    raise RuntimeError('the XGBoost container never calls execution_parameters_fn')\n"
    )
    booster = _booster()
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    files = {"model.ubj": _model_file(booster), "code/inference.py": module}
    container = {"Image": XGBOOST_IMAGE, "Environment": env, "files": files}
    arn = register_containers(session, [container], group="xgb-script-params")
    # WHEN the transform runs
    result, out = _run(session, arn, _csv(ROWS[:20]), options=RunOptions(record_newline="strip"))
    # THEN the job's own settings apply and the function is never called
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    assert out is not None and len(out.decode().split()) == 20
