"""The flows of deploy.yml and of the pipeline, each run as the role that runs it in AWS."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

import build
from errors import PromotionError
from pipelines import run_pipeline
from promotion.artifacts import CopySettings
from promotion.config import REPO_ROOT, parse_s3_url
from testbed.enforcement import aws_semantics, enforced
from testbed.iam_world import EXECUTION, World, as_role
from utils import aws_errors, new_session

SMOKE_INPUT = REPO_ROOT / "demo" / "smoke-input.csv"
SMOKE_PREFIX = "smoke/1-1"


@dataclass(frozen=True)
class Outcome:
    """Exit code and what the CLI printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The non-empty lines of stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]


@contextlib.contextmanager
def _captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def run_as(world: World, role: str, monkeypatch: Any, call: Callable[[], int]) -> Outcome:
    """Run one CLI call with the role's credentials, IAM enforced."""
    with as_role(world, role, monkeypatch), aws_semantics(), enforced(), _captured() as (out, err):
        code = call()
    return Outcome(code, out.getvalue(), err.getvalue())


def build_py(world: World, stage: str, *args: str) -> Callable[[], int]:
    """`python build.py --stage STAGE ...` as deploy.yml runs it (dev read through the reader)."""
    argv = ["--stage", stage, "--output-dir", str(world.scratch / stage), *args]
    if "--resolve-only" not in args:
        argv += ["--source-role-arn", world.roles["registry-reader"].arn]
    return lambda: build.main(argv)


def resolve(world: World, monkeypatch: Any) -> Outcome:
    """The `resolve` job: the registry reader prints the latest Approved ARN."""
    return run_as(
        world, "registry-reader", monkeypatch, build_py(world, "pre-prod", "--resolve-only")
    )


def promote(
    world: World, role: str, stage: str, source_arn: str, monkeypatch: Any, *extra: str
) -> Outcome:
    """build.py of the pre-prod or prod-plan job for one pinned source ARN."""
    call = build_py(world, stage, "--model-package-arn", source_arn, *extra)
    return run_as(world, role, monkeypatch, call)


PENDING = ("--approval-status", "PendingManualApproval")


def promote_in_parts(
    world: World, role: str, stage: str, source_arn: str, monkeypatch: Any, *extra: str
) -> Outcome:
    """build.py with a multipart threshold of one byte (the streaming path's: server-side copies
    are always UploadPartCopy parts completed create-only, whatever the size)."""
    monkeypatch.setattr(
        build, "CopySettings", functools.partial(CopySettings, multipart_threshold=1)
    )
    return promote(world, role, stage, source_arn, monkeypatch, *extra)


def plan_prod(world: World, monkeypatch: Any, *extra: str) -> Outcome:
    """build.py of the prod-plan job: the package stays PendingManualApproval until the review."""
    source_arn = world.source_arns[-1]
    return promote(world, "plan-prod", "prod", source_arn, monkeypatch, *PENDING, *extra)


def approve_prod(world: World, monkeypatch: Any) -> Outcome:
    """The prod job after the review: `build.py --stage prod --approve` on the reviewed build."""
    argv = ["--stage", "prod", "--approve", "--output-dir", str(world.scratch / "prod"),
            "--model-package-arn", world.source_arns[-1]]  # fmt: skip
    return run_as(world, "deploy-prod", monkeypatch, lambda: build.main(argv))


def upload_smoke_input(world: World) -> int:
    """`aws s3 cp demo/smoke-input.csv s3://<input bucket>/smoke/<run>/input/` (boto3 here)."""
    bucket, _ = parse_s3_url(world.configs["pre-prod"].input_data_url)
    s3 = new_session(region_name=world.configs["pre-prod"].region).client("s3")
    try:
        with aws_errors("the pre-prod deploy role", "aws s3 cp"):
            s3.put_object(
                Bucket=bucket, Key=f"{SMOKE_PREFIX}/input/smoke-input.csv",
                Body=SMOKE_INPUT.read_bytes(),
            )  # fmt: skip
    except PromotionError as error:
        print(f"upload failed: {error}", file=sys.stderr)
        return 1
    return 0


def smoke_urls(world: World) -> tuple[str, str]:
    """InputDataUrl and OutputDataUrl of the smoke run, as deploy.yml builds them."""
    config = world.configs["pre-prod"]
    input_bucket, _ = parse_s3_url(config.input_data_url)
    output_bucket, _ = parse_s3_url(config.output_data_url)
    return (
        f"s3://{input_bucket}/{SMOKE_PREFIX}/input/",
        f"s3://{output_bucket}/{SMOKE_PREFIX}/predictions/",
    )


def _no_steps_listing(session: boto3.Session) -> boto3.Session:
    """moto does not implement ListPipelineExecutionSteps: answer it empty on this session."""

    def respond(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://moto.invalid", 200, HTTPHeaders(), None), {
            "PipelineExecutionSteps": []
        }

    session.events.register(
        "before-call.sagemaker.ListPipelineExecutionSteps",
        respond,  # type: ignore[arg-type]
    )
    return session


def smoke_run(world: World, monkeypatch: Any) -> Outcome:
    """The smoke step of the pre-prod job: upload the input, run the pipeline, wait."""
    input_url, output_url = smoke_urls(world)

    def call() -> int:
        if upload_smoke_input(world):
            return 1
        return run_pipeline.main(
            ["--stage", "pre-prod", "--wait",
             "--parameter", f"InputDataUrl={input_url}",
             "--parameter", f"OutputDataUrl={output_url}"],
            session_factory=lambda **kwargs: _no_steps_listing(new_session(**kwargs)),
            sleep=lambda _: None,
        )  # fmt: skip

    return run_as(world, "deploy-pre-prod", monkeypatch, call)


def local_run(world: World, monkeypatch: Any, definition: Path, model_package_arn: str) -> Outcome:
    """`run_pipeline --local` of the pre-prod definition as the SageMaker execution role."""
    input_url, output_url = smoke_urls(world)
    argv = [
        "--local", "--stage", "pre-prod", "--definition", str(definition),
        "--model-package-arn", model_package_arn,
        "--parameter", f"InputDataUrl={input_url}",
        "--parameter", f"OutputDataUrl={output_url}",
    ]  # fmt: skip
    return run_as(world, f"{EXECUTION}-pre-prod", monkeypatch, lambda: run_pipeline.main(argv))


def deployment(world: World, stage: str) -> dict[str, Any]:
    """build/<stage>/deployment.tfvars.json of the last promotion."""
    data: dict[str, Any] = json.loads(
        (world.scratch / stage / "deployment.tfvars.json").read_text(encoding="utf-8")
    )
    return data


def deploy_stage(world: World, stage: str) -> None:
    """What `terraform apply` creates that the flows use: the model and the pipeline."""
    values = deployment(world, stage)
    config = world.configs[stage]
    with world.admin(config.account_id) as session:
        _create_model_and_pipeline(session.client("sagemaker"), config, values)


def default_tags(config: Any) -> list[dict[str, str]]:
    """The tags Terraform's default_tags put on the module's resources (versions.tf)."""
    return [
        {"Key": "Stage", "Value": config.stage},
        {"Key": "ModelPackageGroup", "Value": config.model_package_group_name},
    ]


def _create_model_and_pipeline(sm: Any, config: Any, values: dict[str, Any]) -> None:
    definition = Path(values["pipeline_definition_file"])
    if not definition.is_absolute():
        definition = REPO_ROOT / definition
    try:
        sm.create_model(
            ModelName=values["model_name"],
            PrimaryContainer={"ModelPackageName": values["model_package_arn"]},
            ExecutionRoleArn=config.sagemaker_execution_role_arn,
            Tags=default_tags(config),
        )
    except ClientError as error:
        if "already" not in str(error).lower():
            raise
    sm.create_pipeline(
        PipelineName=values["pipeline_name"],
        PipelineDefinition=definition.read_text(encoding="utf-8"),
        RoleArn=config.sagemaker_execution_role_arn,
        ClientRequestToken=values["model_name"],
        Tags=default_tags(config),
    )


def status(world: World, role: str, stage: str, monkeypatch: Any) -> Outcome:
    """`build.py --stage STAGE --status` as deploy.yml runs it after a job, as that job's role."""
    argv = ["--stage", stage, "--status", "--output-dir", str(world.scratch / stage)]
    return run_as(world, role, monkeypatch, lambda: build.main(argv))


def ecr_as(world: World, role: str, monkeypatch: Any, call: Callable[[Any], Any]) -> str | None:
    """Make one ECR call as `role`, IAM enforced: None when IAM let it through (whatever ECR then
    answered), else the error code of the refusal."""
    with as_role(world, role, monkeypatch), aws_semantics(), enforced():
        ecr = new_session(region_name=world.configs["pre-prod"].region).client("ecr")
        try:
            call(ecr)
        except ClientError as error:
            code = str(error.response["Error"]["Code"])
            return code if code == "AccessDeniedException" else None
    return None
