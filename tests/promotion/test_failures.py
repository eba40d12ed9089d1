"""Every expected failure is one line and an exit code, fast; unexpected bugs keep a traceback."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.client import BaseClient
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.httpsession import URLLib3Session

import build
import utils
from pipelines import get_pipeline_definition, run_pipeline, smoke
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, account_session, role_arn
from testbed.promotion_cases import register
from tests.pipeline.conftest import write_config
from tests.promotion.conftest import Call, mutating
from tests.promotion.test_package_forms import (
    container,
    prefix_source,
    put_model_files,
    register_with_additional,
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_main(config: Path, out: Path, *extra: str) -> int:
    return build.main(
        ["--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT), *extra]
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


@pytest.fixture
def head_without_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """HeadObject errors as S3 answers them: no body, so only the status is known ("404"), a
    missing bucket looking like a missing key (S3 API reference, HeadObject). moto in-process
    names the code."""
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private to botocore)

    def answer(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        try:
            return original(self, operation_name, api_params)
        except ClientError as error:
            if operation_name == "HeadObject":
                status = int(error.response["ResponseMetadata"]["HTTPStatusCode"])
                info = cast(dict[str, Any], error.response["Error"])
                info.pop("BucketName", None)
                info.update(Code=str(status), Message=HTTPStatus(status).phrase)
            raise

    monkeypatch.setattr(BaseClient, "_make_api_call", answer)


def package_with_a_prefix(dev: boto3.Session) -> None:
    """A package whose additional specification's model data is a key prefix (S3Prefix)."""
    put_model_files(dev, "models/run-1/")
    register_with_additional(dev, container(prefix_source("models/run-1/")))


@pytest.mark.parametrize(
    ("dry_run", "registered", "failed"),
    [
        (True, package_with_a_prefix, "ListObjectsV2"),
        (True, register, "ListObjectsV2"),
        (False, register, "ListObjectsV2"),
    ],
    ids=["dry-run-of-a-prefix", "dry-run-of-one-file", "promotion"],
)
def test_a_stage_bucket_that_does_not_exist_is_one_line_naming_its_key(
    head_without_body: None, api_calls: list[Call], dev: boto3.Session, pre_prod: boto3.Session,
    config_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    dry_run: bool, registered: Callable[[boto3.Session], object], failed: str,
) -> None:  # fmt: skip
    # GIVEN a stage file whose artifacts_bucket does not exist: S3 answers HeadObject there
    # 404 (as for a missing key), and NoSuchBucket to the calls that have an answer body
    registered(dev)
    config = config_file(artifacts_bucket="no-such-artifacts-bucket")
    api_calls.clear()

    # WHEN build.py plans a package (a dry run, which once showed a plan of copies into it), or
    # promotes
    code = build_main(config, tmp_path / "out", *(["--dry-run"] if dry_run else []))

    # THEN one line names the call, the bucket, the stage file's key and the fix, exit 1, and
    # nothing was changed (the plan lists the bucket before it reads anything else there)
    assert code == 1
    error = one_line(capsys)
    assert error.startswith(f"build.py: error: {failed} for target (pre-prod) account"), error
    assert "the S3 bucket no-such-artifacts-bucket does not exist (NoSuchBucket)" in error
    assert f"'artifacts_bucket' of {config} names it" in error
    assert "create the bucket (bootstrap/stage creates the stage's)" in error
    writes = [c for c in mutating(api_calls) if c[0] != "sts"]
    assert writes == []


def test_any_other_aws_refusal_is_one_line_naming_call_code_and_message(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # GIVEN a SageMaker in the stage that refuses a value (400 ValidationException)
    register(dev)
    original = build.Identity.client

    def client(self: build.Identity, name: str) -> Any:
        made = original(self, name)
        if name == "sagemaker" and self.account_id == PRE_PROD_ACCOUNT:

            def refused(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
                error = {"Code": "ValidationException", "Message": "1 validation error detected"}
                metadata = {"HTTPStatusCode": 400, "RetryAttempts": 0}
                response = AWSResponse("https://aws.invalid", 400, HTTPHeaders(), None)
                return response, {"Error": error, "ResponseMetadata": metadata}

            made.meta.events.register("before-call.sagemaker.ListModelPackageGroups", refused)
        return made

    monkeypatch.setattr(build.Identity, "client", client)

    # WHEN build.py runs THEN one line names the call, the principal, AWS's code and message
    assert build_main(config_file(), tmp_path) == 1
    error = one_line(capsys)
    assert f"ListModelPackageGroups for target (pre-prod) account {PRE_PROD_ACCOUNT}" in error
    assert "was refused (ValidationException: 1 validation error detected)" in error
    assert "check the names and values it was given" in error


def test_the_smoke_run_with_a_missing_input_bucket_is_one_line_naming_its_key(
    pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], api_calls: list[Call],
) -> None:  # fmt: skip
    # GIVEN a stage file whose input_data_url is in a bucket that does not exist
    config = config_file(input_data_url="s3://no-such-input-bucket/scoring/",
                         feature_columns=["f0", "f1"])  # fmt: skip
    smoke_input = tmp_path / "smoke-input.csv"
    smoke_input.write_text("record_id,f0,f1\n7,1,2\n")

    # WHEN the smoke run uploads its input
    code = smoke.main(["--stage", "pre-prod", "--config", str(config), "--input",
                       str(smoke_input), "--run-id", "run-1"],
                      session_factory=lambda **_: account_session(PRE_PROD_ACCOUNT))  # fmt: skip

    # THEN one line names the call, the bucket and the key; no pipeline was started
    assert code == 1
    error = one_line(capsys)
    assert error.startswith("error: PutObject for "), error
    assert "the S3 bucket no-such-input-bucket does not exist (NoSuchBucket)" in error
    assert f"'input_data_url' of {config} names it" in error
    assert not [c for c in api_calls if c[1] == "StartPipelineExecution"]
