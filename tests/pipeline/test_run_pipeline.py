"""run_pipeline against stubbed SageMaker/STS, its --local branch, and the script upload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from pipelines import run_pipeline
from pipelines.definition.step_code import script_uris, upload_step_scripts
from tests.pipeline.conftest import ConfigFactory, write_config
from utils import new_session

PIPELINE = "breast-cancer-classifier-pre-prod-batch-inference"
ARN = f"arn:aws:sagemaker:eu-west-1:222222222222:pipeline/{PIPELINE}/execution/abc123"
DEFINITION = json.dumps({
    "Parameters": [{"Name": "RunDate", "Type": "String", "DefaultValue": ""},
                   {"Name": "ModelName", "Type": "String", "DefaultValue": "m"},
                   {"Name": "TransformInstanceCount", "Type": "Integer", "DefaultValue": 1}],
    "Steps": [],
})  # fmt: skip


class FakeSession:
    """Hands out the stubbed clients (one per service) whatever the arguments."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self

    def client(self, name: str, **_: Any) -> Any:
        return self.clients[name]


@pytest.fixture
def stubs() -> Iterator[tuple[FakeSession, Stubber, Stubber]]:
    session = new_session(region_name="eu-west-1")
    sagemaker, sts = session.client("sagemaker"), session.client("sts")
    with Stubber(sagemaker) as sm_stub, Stubber(sts) as sts_stub:
        yield FakeSession({"sagemaker": sagemaker, "sts": sts}), sm_stub, sts_stub
        sm_stub.assert_no_pending_responses()
        sts_stub.assert_no_pending_responses()


def caller(account: str) -> dict[str, str]:
    """GetCallerIdentity as STS answers it."""
    return {"Account": account, "Arn": f"arn:aws:sts::{account}:assumed-role/deployer/ci"}


def expect_start(sm: Stubber, sts: Stubber, parameters: list[dict[str, str]]) -> None:
    sts.add_response("get_caller_identity", caller("222222222222"))
    sm.add_response(
        "describe_pipeline", {"PipelineDefinition": DEFINITION}, {"PipelineName": PIPELINE}
    )
    sm.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": ARN},
        {"PipelineName": PIPELINE, "PipelineParameters": parameters, "ClientRequestToken": ANY},
    )


def argv(tmp_path: Path, *extra: str) -> list[str]:
    return ["--stage", "pre-prod", "--config", str(write_config(tmp_path)), *extra]


def test_start_with_parameters_without_waiting(
    tmp_path: Path, stubs: tuple[FakeSession, Stubber, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a deployed pipeline  WHEN starting it with a RunDate override
    session, sm, sts = stubs
    expect_start(sm, sts, [{"Name": "RunDate", "Value": "2024-01-31"}])
    code = run_pipeline.main(
        argv(tmp_path, "--parameter", "RunDate=2024-01-31"), session_factory=session
    )
    # THEN it exits 0 after printing the execution ARN, in the stage's region
    assert code == 0
    assert ARN in capsys.readouterr().out
    assert session.calls == [{"region_name": "eu-west-1"}]


@pytest.mark.parametrize(("final", "exit_code"), [("Succeeded", 0), ("Failed", 1), ("Stopped", 1)])
def test_wait_reports_every_step(
    tmp_path: Path,
    stubs: tuple[FakeSession, Stubber, Stubber],
    capsys: pytest.CaptureFixture[str],
    final: str,
    exit_code: int,
) -> None:
    # GIVEN an execution that runs one poll, then ends
    session, sm, sts = stubs
    expect_start(sm, sts, [])
    for status in ("Executing", final):
        sm.add_response(
            "describe_pipeline_execution",
            {"PipelineExecutionStatus": status},
            {"PipelineExecutionArn": ARN},
        )
    steps = [
        {"StepName": "Preprocess", "StepStatus": "Succeeded"},
        {"StepName": "Transform", "StepStatus": "Failed", "FailureReason": "ClientError: 500"},
    ]
    sm.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": steps},
        {"PipelineExecutionArn": ARN, "SortOrder": "Ascending"},
    )
    sleeps: list[float] = []
    # WHEN waiting
    code = run_pipeline.main(argv(tmp_path, "--wait"), session_factory=session, sleep=sleeps.append)
    out = capsys.readouterr().out
    # THEN the exit code follows the final status and every step is reported
    assert code == exit_code
    assert sleeps == [30]
    assert "Transform" in out and "ClientError: 500" in out and f"execution {final}" in out


def test_wait_times_out(
    tmp_path: Path, stubs: tuple[FakeSession, Stubber, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an execution that never ends and a 60 s timeout (two polls)
    session, sm, sts = stubs
    expect_start(sm, sts, [])
    for _ in range(3):
        sm.add_response("describe_pipeline_execution", {"PipelineExecutionStatus": "Executing"})
    sm.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": []})
    sleeps: list[float] = []
    # WHEN waiting  THEN the poll is bounded and the exit code is 1
    code = run_pipeline.main(
        argv(tmp_path, "--wait", "--timeout", "60"), session_factory=session, sleep=sleeps.append
    )
    assert code == 1 and sleeps == [30, 30]
    assert "timed out" in capsys.readouterr().out


def test_unknown_parameter_is_refused_before_starting(
    tmp_path: Path, stubs: tuple[FakeSession, Stubber, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a parameter the definition does not declare
    session, sm, sts = stubs
    sts.add_response("get_caller_identity", caller("222222222222"))
    sm.add_response("describe_pipeline", {"PipelineDefinition": DEFINITION})
    # WHEN starting  THEN exit 2 naming the declared parameters; nothing started
    code = run_pipeline.main(argv(tmp_path, "--parameter", "RunDat=x"), session_factory=session)
    assert code == 2
    assert "unknown pipeline parameter(s) RunDat; declared: ModelName, RunDate" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--parameter", "RunDate"], "is not NAME=VALUE"), ([], "account 999999999999")],
)
def test_bad_input_exits_2(
    tmp_path: Path,
    stubs: tuple[FakeSession, Stubber, Stubber],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    # GIVEN a malformed parameter, or credentials of another account
    session, _, sts = stubs
    if not extra:
        sts.add_response("get_caller_identity", caller("999999999999"))
    # WHEN starting  THEN exit 2 with one line
    assert run_pipeline.main(argv(tmp_path, *extra), session_factory=session) == 2
    assert message in capsys.readouterr().err


def test_missing_pipeline_exits_1(
    tmp_path: Path, stubs: tuple[FakeSession, Stubber, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no deployed pipeline  WHEN starting  THEN exit 1 telling to deploy first
    session, sm, sts = stubs
    sts.add_response("get_caller_identity", caller("222222222222"))
    sm.add_client_error("describe_pipeline", "ResourceNotFound", "Pipeline does not exist")
    assert run_pipeline.main(argv(tmp_path), session_factory=session) == 1
    assert "deploy the stage first" in capsys.readouterr().err


def test_pipeline_name_comes_from_the_build_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_config: ConfigFactory
) -> None:
    # GIVEN build/<stage>/deployment.tfvars.json naming the pipeline
    monkeypatch.setattr(run_pipeline, "REPO_ROOT", tmp_path)
    config = make_config()
    assert run_pipeline.default_pipeline_name(config) == PIPELINE
    (tmp_path / "build/pre-prod").mkdir(parents=True)
    (tmp_path / "build/pre-prod/deployment.tfvars.json").write_text(
        json.dumps({"pipeline_name": "from-build"})
    )
    # WHEN resolving the default name  THEN the build output wins
    assert run_pipeline.default_pipeline_name(config) == "from-build"


def test_local_run_delegates_to_the_local_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a definition file and a fake local runner whose Transform step fails
    import pipelines.local as local

    definition = tmp_path / "definition.json"
    chunks = ["--feature-columns", "dose_mg,pulse", "--feature-columns", "age"]
    app = {"AppSpecification": {"ContainerArguments": chunks}}
    preprocess = {"Name": "Preprocess", "Arguments": app}
    definition.write_text(json.dumps({**json.loads(DEFINITION), "Steps": [preprocess]}))
    calls: list[dict[str, Any]] = []

    def fake_run(definition: dict[str, Any], **kwargs: Any) -> local.RunResult:
        calls.append({"definition": definition, **kwargs})
        kwargs.get("log", print)("[Transform] Failed in 0.50s: 500 from the model")
        steps = [
            local.StepResult("Preprocess", "Processing", "Succeeded", 1.5),
            local.StepResult("Transform", "Transform", "Failed", 0.5, "500 from the model"),
        ]
        return local.RunResult("x1", "Failed", steps)

    monkeypatch.setattr(local, "run_definition", fake_run)
    argv = ["--local", "--definition", str(definition), "--parameter", "RunDate=2024-01-31"]
    # WHEN running locally
    code = run_pipeline.main([*argv, "--model-package-arn", "arn:pkg"])
    # THEN parameters and package reach the runner, steps are printed, the exit code is 1
    assert code == 1
    assert calls[0]["parameters"] == {"RunDate": "2024-01-31"}
    assert calls[0]["model_package_arn"] == "arn:pkg"
    assert calls[0]["options"].expected_features == ("dose_mg", "pulse", "age")  # to check
    out = capsys.readouterr().out
    assert out.count("500 from the model") == 1 and "local execution x1: Failed" in out


def test_scripts_upload_once_with_encryption(make_config: ConfigFactory) -> None:
    # GIVEN an empty artifacts bucket in the stage account
    config = make_config(region="us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=config.artifacts_bucket)
        # WHEN uploading twice
        first = upload_step_scripts(s3, config=config)
        second = upload_step_scripts(s3, config=config)
        head = s3.head_object(Bucket=config.artifacts_bucket, Key=first[0])
    # THEN the first call uploads both scripts at their hashed URIs, the second nothing
    uris = script_uris(config)
    assert sorted(f"s3://{config.artifacts_bucket}/{key}" for key in first) == sorted(uris.values())
    assert second == []
    assert head["ServerSideEncryption"] == "AES256"
    assert all("/pipeline-code/" in uri and uri.endswith(name) for name, uri in uris.items())


def test_scripts_upload_with_the_stage_kms_key(make_config: ConfigFactory) -> None:
    # GIVEN a stage with a KMS key  WHEN uploading  THEN SSE-KMS with that key is requested,
    # create-only (If-None-Match: the stage roles may write step scripts no other way)
    key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    config = make_config(kms_key_arn=key)
    s3 = boto3.client("s3", region_name="eu-west-1")
    with Stubber(s3) as stub:
        for name, uri in script_uris(config).items():
            object_key = uri.split("/", 3)[3]
            stub.add_response("list_objects_v2", {"KeyCount": 0})
            stub.add_response(
                "put_object",
                {},
                {
                    "Bucket": config.artifacts_bucket,
                    "Key": object_key,
                    "Body": ANY,
                    "ContentType": "text/x-python",
                    "ServerSideEncryption": "aws:kms",
                    "SSEKMSKeyId": key,
                    "IfNoneMatch": "*",
                },
            )
            assert name in object_key
        assert len(upload_step_scripts(s3, config=config)) == len(script_uris(config))
        stub.assert_no_pending_responses()


@pytest.mark.usefixtures("no_aws_credentials")
def test_a_local_run_without_credentials_is_one_line_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no AWS credentials anywhere, and a runner that records whether it was started
    import pipelines.local as local

    started: list[bool] = []
    monkeypatch.setattr(local, "run_definition", lambda *_, **__: started.append(True))
    definition = tmp_path / "definition.json"
    definition.write_text(DEFINITION)
    # WHEN a local run is asked for
    code = run_pipeline.main(["--local", "--definition", str(definition)])
    # THEN one line names the credentials, exit 1, and no run was started
    captured = capsys.readouterr()
    assert code == 1 and not started and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert "credentials are missing or unusable while calling run_pipeline" in captured.err


@pytest.mark.usefixtures("no_aws_credentials")
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--local", "--parameter", "RunDate=yesterday"],
         "--parameter RunDate 'yesterday' is not a date like 2026-12-01"),
        (["--local", "--parameter", "TransformInstanceCount=abc"], "TransformInstanceCount"),
        (["--local", "--backfill", "2026-11-01:2026-13-01"],
         "--backfill '2026-13-01' is not a date like 2026-11-01"),
        (["--local", "--catch-up", "--since", "2026-1-1"], "--since '2026-1-1' is not a date"),
    ],
)  # fmt: skip
def test_bad_input_is_exit_2_before_credentials_are_looked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    # GIVEN no AWS credentials, and a bad value among the arguments
    definition = tmp_path / "definition.json"
    definition.write_text(DEFINITION)
    # WHEN the command runs
    code = run_pipeline.main([*arguments, "--definition", str(definition)])
    # THEN the bad value is the one line, exit 2 (not the missing credentials, exit 1)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
