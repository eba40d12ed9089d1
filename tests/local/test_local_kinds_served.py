"""Inference-toolkit handlers, own containers over HTTP, inference pipelines and what the runner
refuses: each with a small model of its own (not the demo's)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from pipelines.local import http_container, run_definition, serving
from tests.local.local_helpers import (
    DEFAULT_HOOKS_MODULE,
    OWN_IMAGE,
    PYTORCH_IMAGE,
    SKLEARN_IMAGE,
    XGBOOST_IMAGE,
    _joblib_bytes,
    get,
    put,
    register_containers,
    transform_definition,
)

ROWS = np.random.default_rng(2).normal(size=(60, 3))
REGRESSION = LinearRegression().fit(ROWS, ROWS @ [1.0, -2.0, 0.5] + 3)
BODY = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in ROWS)


def _run(sess: boto3.Session, arn: str, **transform: Any) -> tuple[Any, list[float] | None]:
    put(sess, "input/rows.csv", BODY)
    result = run_definition(
        transform_definition(**transform),
        parameters={},
        session=sess,
        model_package_arn=arn,
        log=lambda _: None,
    )
    if result.status != "Succeeded":
        return result, None
    return result, [float(v) for v in get(sess, "output/rows.csv.out").decode().split()]


def _reason(result: Any) -> str:
    return str(result.steps[0].failure_reason or "")


TOOLKIT_MODULE = """
import io, os
import joblib
import numpy as np

STATE = {}

def pre_model_fn(model_dir, context):
    STATE["pre"] = context.system_properties["model_dir"] == model_dir

def model_fn(model_dir, context):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def model_warmup_fn(model_dir, model):
    STATE["warm"] = model is not None

def input_fn(data, content_type, context):
    return np.loadtxt(io.StringIO(data), delimiter=",", ndmin=2)

def predict_fn(data, model):
    if not (STATE.get("pre") and STATE.get("warm")):
        raise RuntimeError(f"pre_model_fn and model_warmup_fn did not run: {STATE}")
    return model.predict(data)

def output_fn(prediction, accept, context):
    return "".join(f"{value!r}\\n" for value in prediction.tolist()), accept
"""


def _toolkit(sess: boto3.Session, module: str, group: str) -> str:
    files = {"model.joblib": _joblib_bytes(REGRESSION), "code/inference.py": module}
    env = {"SAGEMAKER_PROGRAM": "inference.py"}
    container = {"Image": PYTORCH_IMAGE, "Framework": "PYTORCH", "Environment": env, "files": files}
    return register_containers(sess, [container], group=group)


def test_toolkit_hooks_with_and_without_context(session: boto3.Session) -> None:
    # GIVEN a PyTorch-image package whose module uses the toolkit's hooks, some with context
    arn = _toolkit(session, TOOLKIT_MODULE, "toolkit")
    # WHEN the transform runs
    result, scores = _run(session, arn)
    # THEN every hook ran as the toolkit runs it and the predictions are the model's
    assert result.status == "Succeeded", _reason(result)
    np.testing.assert_allclose(scores or [], REGRESSION.predict(ROWS))


def test_toolkit_transform_fn(session: boto3.Session) -> None:
    # GIVEN a module with model_fn and transform_fn (taking the context) only
    module = """
    import io, os
    import joblib
    import numpy as np

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def transform_fn(model, data, content_type, accept, context):
        rows = np.loadtxt(io.StringIO(data), delimiter=",", ndmin=2)
        return "".join(f"{v!r}\\n" for v in model.predict(rows).tolist()), "text/csv"
    """
    arn = _toolkit(session, module, "toolkit-transform")
    # WHEN the transform runs THEN transform_fn answered every request
    result, scores = _run(session, arn)
    assert result.status == "Succeeded", _reason(result)
    np.testing.assert_allclose(scores or [], REGRESSION.predict(ROWS))


def test_toolkit_defaults_of_an_absent_framework_are_refused(session: boto3.Session) -> None:
    # GIVEN a PyTorch-image module that leaves input_fn and output_fn to PyTorch's defaults
    arn = _toolkit(session, DEFAULT_HOOKS_MODULE + "\ndef predict_fn(d, m):\n    return d\n", "tk")
    # WHEN the transform runs THEN it is refused before any request, naming the hooks
    result, _ = _run(session, arn)
    assert result.status == "Failed"
    assert "leaves input_fn, output_fn to the pytorch toolkit's default handler" in _reason(result)


SERVER = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

WEIGHTS = json.load(open(os.path.join(os.environ["MODEL_DIR"], "weights.json")))

class Handler(BaseHTTPRequestHandler):
    def _answer(self, status, body, media="text/csv"):
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ping":
            self._answer(200, b"")
        elif self.path == "/execution-parameters":
            params = json.dumps({"MaxConcurrentTransforms": 2}).encode()
            self._answer(200, params, "application/json")
        else:
            self._answer(404, b"")

    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"])).decode()
        rows = [[float(v) for v in line.split(",")] for line in data.splitlines() if line]
        out = "".join(repr(sum(w * v for w, v in zip(WEIGHTS, row))) + "\\n" for row in rows)
        self._answer(200, out.encode())

    def log_message(self, *args):
        sys.stderr.write("request\\n")

HTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
"""


def test_an_own_container_served_by_its_declared_command(session: boto3.Session) -> None:
    # GIVEN the team's own image, whose package declares how to serve it locally
    env = {
        "LOCAL_SERVE_COMMAND": "python3 /opt/ml/model/code/serve.py",
        "MODEL_DIR": "/opt/ml/model",
    }
    files = {"weights.json": "[1.0, -2.0, 0.5]", "code/serve.py": SERVER}
    arn = register_containers(
        session, [{"Image": OWN_IMAGE, "Environment": env, "files": files}], group="own"
    )
    # WHEN the transform runs
    result, scores = _run(session, arn)
    # THEN SageMaker's HTTP contract answered every request
    assert result.status == "Succeeded", _reason(result)
    np.testing.assert_allclose(scores or [], ROWS @ [1.0, -2.0, 0.5])


def test_an_own_container_without_docker_or_command_is_refused(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the team's own image, no serve command, and no Docker daemon answering
    monkeypatch.setattr("pipelines.local.serving.docker_answers", lambda: False)
    arn = register_containers(session, [{"Image": OWN_IMAGE, "files": {"m": b"x"}}], group="o")
    # WHEN the transform runs THEN one line names the image and what would serve it
    result, _ = _run(session, arn)
    reason = _reason(result)
    assert reason.startswith(f"{OWN_IMAGE} is the team's own container")
    assert "Docker daemon" in reason and "LOCAL_SERVE_COMMAND" in reason


DOUBLING = """
import io
import numpy as np

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    rows = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2) * 2
    return "".join(",".join(repr(float(v)) for v in row) + "\\n" for row in rows), "text/csv"
"""
ROW_MODEL = (
    DEFAULT_HOOKS_MODULE
    + """
import io
def input_fn(body, content_type):
    return np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)
import numpy as np
"""
)


def test_an_inference_pipeline_runs_its_containers_in_sequence(session: boto3.Session) -> None:
    # GIVEN a package with two containers: features doubled, then the regression
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    first = {"Image": SKLEARN_IMAGE, "Environment": env, "files": {"code/inference.py": DOUBLING}}
    files = {"model.joblib": _joblib_bytes(REGRESSION), "code/inference.py": ROW_MODEL}
    second = {"Image": SKLEARN_IMAGE, "Environment": env, "files": files}
    arn = register_containers(session, [first, second], group="pipeline")
    # WHEN the transform runs
    result, scores = _run(session, arn)
    # THEN each container's output was the next one's input (not container 1's output alone)
    assert result.status == "Succeeded", _reason(result)
    np.testing.assert_allclose(scores or [], REGRESSION.predict(ROWS * 2))


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({"Image": SKLEARN_IMAGE, "Framework": "XGBOOST"}, "the package's Framework says XGBOOST"),
        (
            {"Image": PYTORCH_IMAGE.replace("pytorch-inference:2.1.0-cpu-py310",
                                            "tensorflow-inference:2.13-cpu")},
            "tensorflow-inference image, which the runner does not emulate",
        ),
        (
            {"Image": PYTORCH_IMAGE.replace("pytorch-inference:2.1.0-cpu-py310",
                                            "huggingface-pytorch-inference:2.1.0-transformers4.37.0-cpu-py310-ubuntu22.04")},
            "(its own Hugging Face handler service), which the runner does not emulate",
        ),
        (
            {"Image": SKLEARN_IMAGE, "ModelDataSource": {"S3DataSource": {
                "S3Uri": "s3://b/m/", "S3DataType": "S3Prefix", "CompressionType": "None"}}},
            "batch transform cannot use ModelDataSource",
        ),
    ],
)  # fmt: skip
def test_what_the_runner_cannot_serve_rightly_is_one_line(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch, container: dict[str, Any],
    expected: str,
) -> None:  # fmt: skip
    # GIVEN a package the runner would serve wrongly, and no Docker daemon
    monkeypatch.setattr("pipelines.local.serving.docker_answers", lambda: False)
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    files = {"model.joblib": _joblib_bytes(REGRESSION), "code/inference.py": ROW_MODEL}
    spec = {"Environment": env, **container}
    if "ModelDataSource" not in container:
        spec["files"] = files
    arn = register_containers(session, [spec], group="refused")
    # WHEN the transform runs THEN it fails on one line saying why
    result, _ = _run(session, arn)
    assert result.status == "Failed"
    assert expected in _reason(result) and "\n" not in _reason(result)


def test_a_direct_mode_model_is_refused(session: boto3.Session) -> None:
    # GIVEN a model of two containers in Direct mode (moto drops InferenceExecutionConfig from
    # DescribeModel; AWS returns it, so the answer is given back as AWS gives it)
    sm = session.client("sagemaker")
    containers = [{"Image": SKLEARN_IMAGE}, {"Image": SKLEARN_IMAGE}]
    sm.create_model(
        ModelName="direct",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        Containers=containers,  # type: ignore[arg-type]
        InferenceExecutionConfig={"Mode": "Direct"},
    )

    def as_aws(parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("InferenceExecutionConfig", {"Mode": "Direct"})

    session.events.register("after-call.sagemaker.DescribeModel", as_aws)
    put(session, "input/rows.csv", BODY)
    definition = transform_definition()
    definition["Parameters"][0]["DefaultValue"] = "direct"
    # WHEN the transform runs THEN it is refused before any request
    result = run_definition(definition, parameters={}, session=session, log=lambda _: None)
    assert "runs its containers in Direct mode" in _reason(result)


def test_in_process_containers_that_need_different_environments_are_refused(
    session: boto3.Session,
) -> None:
    # GIVEN an inference pipeline whose two in-process containers set THRESHOLD differently
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    first = {"Image": SKLEARN_IMAGE, "Environment": {**env, "THRESHOLD": "0.5"},
             "files": {"code/inference.py": DOUBLING}}  # fmt: skip
    files = {"model.joblib": _joblib_bytes(REGRESSION), "code/inference.py": ROW_MODEL}
    second = {"Image": SKLEARN_IMAGE, "Environment": {**env, "THRESHOLD": "0.9"}, "files": files}
    arn = register_containers(session, [first, second], group="conflict")
    # WHEN the transform runs THEN one line names both containers and the key
    result, _ = _run(session, arn)
    assert "container 1 of 2" in _reason(result) and "set THRESHOLD differently" in _reason(result)


FAKE_DOCKER = """#!{python}
# A stand-in for the docker CLI (no daemon on this machine): `run` serves the image's model with
# the test's server on the published port, as `docker run <image> serve` would.
import os, sys
args = sys.argv[1:]
if args[0] == "info":
    print("27.0.0")
elif args[0] == "run":
    port = next(a for a in args if a.startswith("127.0.0.1:")).split(":")[1]
    model = next(a for a in args if a.endswith(":/opt/ml/model:ro")).split(":")[0]
    env = dict(os.environ, SAGEMAKER_BIND_TO_PORT=port, MODEL_DIR=model)
    assert args[-1] == "serve" and args[-2] == {image!r}, args
    os.execve(sys.executable, [sys.executable, os.path.join(model, "code", "serve.py")], env)
"""


def test_an_own_container_served_with_docker(
    session: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the team's own image without a serve command, and a docker CLI that answers
    # (a stand-in: no Docker daemon runs here; it checks the arguments the runner passes)
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(FAKE_DOCKER.format(python=sys.executable, image=OWN_IMAGE))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    http_container.docker_answers.cache_clear()
    files = {"weights.json": "[1.0, -2.0, 0.5]", "code/serve.py": SERVER}
    arn = register_containers(session, [{"Image": OWN_IMAGE, "files": files}], group="docker")
    # WHEN the transform runs
    try:
        result, scores = _run(session, arn)
    finally:
        http_container.docker_answers.cache_clear()
    # THEN the image answered through SageMaker's HTTP contract
    assert result.status == "Succeeded", _reason(result)
    np.testing.assert_allclose(scores or [], ROWS @ [1.0, -2.0, 0.5])


def test_a_kind_whose_serving_package_is_missing_names_the_make_target(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a built-in XGBoost package on a machine without the xgboost package (a model
    # repository's .venv holds the runtime lock only: `pip install '.[local-xgboost]'` fails there)
    real = serving.importlib.util.find_spec
    monkeypatch.setattr(serving.importlib.util, "find_spec",
                        lambda name, *a: None if name == "xgboost" else real(name, *a))  # fmt: skip
    container = {"Image": XGBOOST_IMAGE, "files": {"xgboost-model": b"x"}}
    arn = register_containers(session, [container], group="xgb-missing")
    # WHEN the transform runs THEN it is refused naming the target that installs the lock
    result, _ = _run(session, arn)
    assert result.status == "Failed"
    assert "XGBoost built-in algorithm; to serve it here: make setup-local" in _reason(result)
