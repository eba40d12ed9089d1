"""A container that misbehaves (exits, answers half a response, has an unreadable setting) fails
its step on one line naming the container and its log; the run's logs are kept."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import xgboost as xgb

from pipelines.local import run_definition
from tests.local.local_helpers import (
    DEFAULT_HOOKS_MODULE,
    OWN_IMAGE,
    XGBOOST_IMAGE,
    put,
    register_containers,
    register_package,
    run_transform_locally,
    transform_definition,
)

ROWS = np.random.default_rng(5).normal(size=(200, 4))
BODY = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in ROWS)

# Answers /ping once, then closes its socket and exits: the next request finds nobody.
PING_THEN_EXIT = """
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

server = HTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler)
server.handle_request()
server.server_close()
print("crashed after ping", flush=True)
sys.exit(3)
"""

# Promises 100 bytes for every prediction and sends 4.
SHORT_ANSWER = """
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"0.5\\n")

HTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
"""


@pytest.fixture(autouse=True)
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The runner's temporary folders go under tmp_path: the tests see what a failed run keeps,
    and nothing is left in the machine's /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _run(sess: boto3.Session, arn: str, lines: list[str] | None = None) -> Any:
    put(sess, "input/rows.csv", BODY)
    log = lines.append if lines is not None else (lambda _: None)
    return run_definition(
        transform_definition(), parameters={}, session=sess, model_package_arn=arn, log=log
    )


def _own(sess: boto3.Session, server: str, group: str) -> str:
    env = {"LOCAL_SERVE_COMMAND": "python3 /opt/ml/model/code/serve.py"}
    files = {"code/serve.py": server}
    return register_containers(
        sess, [{"Image": OWN_IMAGE, "Environment": env, "files": files}], group=group
    )


def _kept_log(reason: str) -> Path:
    match = re.search(r"\(log: ([^)]+)\)", reason)
    assert match, reason
    return Path(match.group(1))


@pytest.mark.parametrize(
    ("server", "said", "logged"),
    [
        (PING_THEN_EXIT, "GET /execution-parameters failed", "crashed after ping"),
        (SHORT_ANSWER, "IncompleteRead", ""),
    ],
)
def test_a_container_that_fails_mid_conversation_is_one_line_and_its_log_is_kept(
    session: boto3.Session, own_temp: Path, server: str, said: str, logged: str
) -> None:
    # GIVEN an own container that exits after /ping, or answers with fewer bytes than promised
    arn = _own(session, server, "faulty")
    lines: list[str] = []
    # WHEN the transform runs in the runner's own temporary folder
    result = _run(session, arn, lines)
    # THEN the step fails on one line naming the container, what broke and its kept log
    reason = result.steps[0].failure_reason or ""
    assert result.status == "Failed", reason
    assert "\n" not in reason and OWN_IMAGE in reason and said in reason, reason
    log = _kept_log(reason)
    assert log.is_file() and logged in log.read_text()
    assert any("its logs are kept in" in line for line in lines)
    shutil.rmtree(next(own_temp.glob("local-run-*")))


def _xgboost(sess: boto3.Session, **env: str) -> str:
    booster = xgb.train({"objective": "binary:logistic"},
                        xgb.DMatrix(ROWS, label=ROWS[:, 0] > 0), 4)  # fmt: skip
    container = {"Image": XGBOOST_IMAGE, "Environment": env,
                 "files": {"xgboost-model": bytes(booster.save_raw("json"))}}  # fmt: skip
    return register_containers(sess, [container], group="xgb-settings")


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("MAX_CONTENT_LENGTH", "6MB", "a whole number of bytes"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "60s", "a whole number of seconds"),
    ],
)
def test_an_unreadable_container_setting_is_one_line(
    session: boto3.Session, key: str, value: str, accepted: str
) -> None:
    # GIVEN the built-in XGBoost algorithm with a setting the container cannot read
    arn = _xgboost(session, **{key: value})
    # WHEN the transform runs
    result = _run(session, arn)
    # THEN it fails on one line naming the container, the variable and what is accepted
    reason = result.steps[0].failure_reason or ""
    assert result.status == "Failed", reason
    assert f"{key}={value!r}" in reason and accepted in reason, reason
    assert XGBOOST_IMAGE in reason and "\n" not in reason


def test_an_exception_in_flight_never_counts_as_success(
    session: boto3.Session, own_temp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Transform step that wrote its log and then hit a bug of the runner's own
    def broken(args: dict[str, Any], *, work_dir: Path, **_: Any) -> dict[str, Any]:
        (work_dir / "serve.log").write_text("what happened before the bug\n")
        raise RuntimeError("a bug of the runner")

    monkeypatch.setattr("pipelines.local.runner.run_transform", broken)
    lines: list[str] = []
    # WHEN the run meets it THEN the bug surfaces as it is (a traceback for our bugs)
    with pytest.raises(RuntimeError, match="a bug of the runner"):
        _run(session, "unused", lines)
    # AND the run counts as failed: its logs stay where the last line says
    kept = [line for line in lines if "its logs are kept in" in line]
    assert kept and "Succeeded" not in " ".join(lines[-2:]), lines
    logs = list(own_temp.glob("local-run-*/*/Transform/serve.log"))
    assert len(logs) == 1 and "before the bug" in logs[0].read_text()
    shutil.rmtree(logs[0].parents[2])


def test_a_user_hook_that_raises_a_long_message_is_one_line(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN a scikit-learn module whose predict_fn raises with a message of several lines
    module = DEFAULT_HOOKS_MODULE + (
        "\ndef predict_fn(data, model):\n"
        "    raise ValueError('the batch is bad\\n  detail one\\n  detail two')\n"
    )
    arn = register_package(session, tiny_model, module, group="long-message")
    put(session, "input/rows.csv", "1,2,3\n4,5,6\n")
    # WHEN the transform runs
    result = run_definition(
        transform_definition(), parameters={}, session=session, model_package_arn=arn,
        log=lambda _: None,
    )  # fmt: skip
    # THEN the failure keeps the message's first line only
    reason = result.steps[0].failure_reason or ""
    assert result.status == "Failed" and "ValueError: the batch is bad" in reason, reason
    assert "\n" not in reason and "detail" not in reason, reason


def test_the_command_line_prints_an_unreadable_setting_once_and_exits_1(
    session: boto3.Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the built-in XGBoost algorithm with MAX_CONTENT_LENGTH=6MB
    arn = _xgboost(session, MAX_CONTENT_LENGTH="6MB")
    put(session, "input/rows.csv", BODY)
    # WHEN the local run is started from the command line
    code = run_transform_locally(session, arn, tmp_path)
    # THEN it exits 1 with the reason printed once
    out = capsys.readouterr().out
    assert code == 1
    assert len([line for line in out.splitlines() if "MAX_CONTENT_LENGTH='6MB'" in line]) == 1, out
