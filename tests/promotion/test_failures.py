"""Every expected failure is one line and an exit code, fast; unexpected bugs keep a traceback."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import EndpointConnectionError
from botocore.httpsession import URLLib3Session

import build
import utils
from pipelines import get_pipeline_definition, run_pipeline
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, role_arn
from testbed.promotion_cases import register
from tests.pipeline.conftest import write_config


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_main(config: Path, out: Path) -> int:
    return build.main(
        ["--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT)]
    )  # fmt: skip


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "Traceback" not in error, error
    return error


@pytest.mark.parametrize(
    ("endpoint", "code", "fragment"),
    [
        ("http://127.0.0.1:{port}", 1, "cannot reach AWS for source (dev) credentials"),
        ("http://no-such-host.invalid", 1, "cannot reach AWS"),
        ("not a url", 2, "AWS_ENDPOINT_URL='not a url' is not an http(s)://host[:port] URL"),
        ("http://127.0.0.1:99999", 2, "AWS_ENDPOINT_URL='http://127.0.0.1:99999'"),
    ],
)
def test_unreachable_or_malformed_endpoints_fail_in_one_line_after_few_attempts(
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    endpoint: str,
    code: int,
    fragment: str,
) -> None:
    # GIVEN an endpoint that refuses connections, does not resolve, or is not a URL
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.format(port=closed_port()))
    sent: list[str] = []
    original = URLLib3Session.send

    def count(self: URLLib3Session, request: Any) -> Any:
        sent.append(request.url)
        return original(self, request)

    monkeypatch.setattr(URLLib3Session, "send", count)

    # WHEN build.py runs THEN one line, the exit code, and at most CONNECT_ATTEMPTS tries
    assert build_main(config_file(), tmp_path) == code
    assert fragment in one_line(capsys)
    assert len(sent) <= utils.CONNECT_ATTEMPTS


@pytest.mark.usefixtures("no_aws_credentials")
def test_missing_credentials_fail_in_one_line(
    config_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_main(config_file(), tmp_path) == 1
    assert "credentials are missing or unusable" in one_line(capsys)


@pytest.mark.parametrize(
    ("status", "error_code"), [(400, "ThrottlingException"), (503, "ServiceUnavailable")]
)
def test_retries_exhausted_fail_in_one_line(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    error_code: str,
) -> None:
    # GIVEN AWS that still throttles (or is unavailable) after botocore's last retry
    register(dev)
    original = build.Identity.client

    def client(self: build.Identity, name: str) -> Any:
        made = original(self, name)
        if name == "sagemaker" and self.account_id == PRE_PROD_ACCOUNT:

            def exhausted(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
                error = {"Code": error_code, "Message": "Rate exceeded"}
                metadata = {"HTTPStatusCode": status, "RetryAttempts": 9}
                response = AWSResponse("https://aws.invalid", status, HTTPHeaders(), None)
                return response, {"Error": error, "ResponseMetadata": metadata}

            made.meta.events.register("before-call.sagemaker.ListModelPackageGroups", exhausted)
        return made

    monkeypatch.setattr(build.Identity, "client", client)

    # WHEN build.py runs THEN one line names the call, the code and the attempts
    assert build_main(config_file(), tmp_path) == 1
    error = one_line(capsys)
    assert f"ListModelPackageGroups for target (pre-prod) account {PRE_PROD_ACCOUNT}" in error
    assert f"kept failing ({error_code}: Rate exceeded) after 10 attempts" in error


def test_an_unexpected_bug_keeps_its_traceback(
    config_file: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(build, "open_identities", broken)
    with pytest.raises(KeyError, match="a bug"):
        build_main(config_file(), tmp_path)


def test_run_pipeline_both_modes_and_get_definition_fail_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an unreachable endpoint and a stage file
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    config = write_config(tmp_path)

    # WHEN run_pipeline starts a deployed pipeline THEN one line, exit 1
    assert run_pipeline.main(["--stage", "pre-prod", "--config", str(config)]) == 1
    assert "cannot reach AWS" in one_line(capsys)

    # WHEN a local run cannot reach S3 THEN one line, exit 1
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": []}))

    def unreachable(*_: Any, **__: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr("pipelines.local.run_definition", unreachable)
    assert run_pipeline.main(["--local", "--definition", str(definition)]) == 1
    assert "cannot reach AWS" in one_line(capsys)

    # WHEN get_pipeline_definition cannot write its output THEN one line, exit 2, before any
    # render (rendering takes seconds)
    (tmp_path / "file").write_text("not a directory")
    args = ["--stage", "pre-prod", "--config", str(config), "--model-name", "m",
            "--model-package-version", "1", "--feature-columns", "a,b",
            "--output", str(tmp_path / "file" / "definition.json")]  # fmt: skip
    rendered: list[bool] = []

    def render(**_: Any) -> str:
        rendered.append(True)
        return "{}"

    monkeypatch.setattr("pipelines.definition.pipeline.render_definition", render)
    assert get_pipeline_definition.main(args) == 2
    line = one_line(capsys)
    assert "cannot be written" in line and "pass a writable --output" in line
    assert not rendered
