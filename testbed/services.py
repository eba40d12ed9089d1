"""What AWS services do on their own, which moto does not: the parts the going-live rehearsal needs.

- **A service assumes a role** only when the role's trust policy names the service principal (with
  its conditions, `aws:SourceAccount` among them); `service_session` checks that, then issues the
  role's credentials, so everything the service then does is evaluated against the role's
  policies by the enforced embedded AWS.
- **SageMaker Pipelines runs a started pipeline**: moto marks every execution Succeeded and runs
  nothing. Inside `running_pipelines()`, StartPipelineExecution runs the deployed definition with
  pipelines.local (the runner that follows SageMaker's documented semantics) as the pipeline's
  role, under the execution's own id, before it answers (so the first DescribePipelineExecution
  is terminal); the status, failure reason and steps are the run's, and
  ListPipelineExecutionSteps (testbed/moto_fixes.py) lists them.
- **EventBridge Scheduler fires a schedule**: `fire_schedule` sends a schedule's universal target
  request with the context attributes filled in, as the schedule's role.
- **Lambda invokes a function**: `invoke_function` unpacks the package Terraform uploaded and runs
  its handler in a subprocess with the function's environment and role.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3

from errors import PromotionError
from testbed.enforcement.conditions import conditions_hold
from testbed.local_aws import answering_others, credentials_environment
from utils import new_session

UNIVERSAL_TARGET = re.compile(r"^arn:aws[a-z-]*:scheduler:::aws-sdk:([a-z0-9-]+):([A-Za-z0-9]+)$")
_BOOTSTRAP = """
import importlib, json, sys, time
sys.path.insert(0, sys.argv[1])
module, _, name = sys.argv[2].rpartition(".")
handler = getattr(importlib.import_module(module), name)
deadline = time.monotonic() + float(sys.argv[4])

class Context:
    invoked_function_arn = sys.argv[3]
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.monotonic()) * 1000))

print(json.dumps(handler(json.loads(sys.stdin.read()), Context())))
"""


class ServiceError(PromotionError):
    """A service could not do what AWS would (a role it may not assume, a missing resource)."""


def trusts_service(trust: dict[str, Any], service: str, context: dict[str, str]) -> bool:
    """Whether a trust policy lets `service` assume the role in `context` (the service's
    `aws:SourceAccount` and `aws:SourceArn`)."""
    statements = trust.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        principals = statement.get("Principal", {})
        named = principals.get("Service", []) if isinstance(principals, dict) else []
        actions = statement.get("Action", [])
        if (
            statement.get("Effect") == "Allow"
            and service in ([named] if isinstance(named, str) else named)
            and "sts:AssumeRole" in ([actions] if isinstance(actions, str) else actions)
            and conditions_hold(statement.get("Condition"), context)
        ):
            return True
    return False


def service_session(
    role_arn: str, service: str, region: str, source_arn: str | None = None
) -> boto3.Session:
    """A session of `role_arn` as `<service>.amazonaws.com` obtains it, on behalf of the
    resource `source_arn` (a schedule group, a pipeline, a function) of the role's account."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    try:
        role = iam_backends[account][partition].get_role_by_arn(role_arn)
    except Exception as error:  # moto's IAMNotFoundException
        raise ServiceError(f"{service} cannot assume {role_arn}: no such role") from error
    principal = f"{service}.amazonaws.com"
    context = {
        "aws:SourceAccount": account,
        **({"aws:SourceArn": source_arn} if source_arn else {}),
    }
    if not trusts_service(json.loads(role.assume_role_policy_document), principal, context):
        raise ServiceError(f"{role_arn} does not trust {principal}: the service cannot assume it")
    assumed = sts_backends[account][partition].assume_role(
        region_name=region, role_session_name=service, role_arn=role_arn,
        policy="", duration=3600, external_id="",
    )  # fmt: skip
    return new_session(
        aws_access_key_id=assumed.access_key_id,
        aws_secret_access_key=assumed.secret_access_key,
        aws_session_token=assumed.session_token,
        region_name=region,
    )


def _run_execution(backend: Any, pipeline_name: str, arn: str, parameters: list[Any]) -> None:
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.utils import get_pipeline_from_name

    from pipelines.local import DefinitionError, run_definition

    pipeline = get_pipeline_from_name(backend.pipelines, pipeline_name)
    execution = pipeline.pipeline_executions[arn]
    values = {str(p["Name"]): str(p["Value"]) for p in parameters or []}
    try:
        session = service_session(pipeline.role_arn, "sagemaker", backend.region_name, pipeline.arn)
    except ServiceError as error:  # the execution fails, as the start itself was valid
        execution.pipeline_execution_status = "Failed"
        execution.pipeline_execution_failure_reason = str(error)  # type: ignore[assignment]
        return
    try:
        with answering_others():  # the run's requests reach the server that is running it
            result = run_definition(
                json.loads(pipeline.pipeline_definition), parameters=values, session=session,
                execution_id=arn.rsplit("/", 1)[-1], log=lambda _line: None,
            )  # fmt: skip
    except DefinitionError as error:  # SageMaker refuses the start itself
        del pipeline.pipeline_executions[arn]
        raise ValidationError(message=str(error)) from error
    failures = [step.failure_reason for step in result.steps if step.failure_reason]
    execution.pipeline_execution_status = result.status
    execution.last_modified_time = utcnow()  # its end, as SageMaker keeps it
    execution.pipeline_execution_failure_reason = failures[0] if failures else None  # type: ignore[assignment]
    steps = [
        {"StepName": step.name, "StepStatus": step.status, "FailureReason": step.failure_reason}
        for step in result.steps
    ]
    setattr(execution, "steps", steps)  # noqa: B010 (moto's object has no such field)


@contextmanager
def running_pipelines() -> Iterator[None]:
    """StartPipelineExecution runs the pipeline (see the module docstring)."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    original_start = SageMakerModelBackend.start_pipeline_execution
    original_describe = SageMakerModelBackend.describe_pipeline_execution

    def start(self: Any, pipeline_name: str, *args: Any, **kwargs: Any) -> dict[str, str]:
        response: dict[str, str] = original_start(self, pipeline_name, *args, **kwargs)
        parameters = kwargs.get("pipeline_parameters", args[1] if len(args) > 1 else None)
        _run_execution(self, pipeline_name, response["PipelineExecutionArn"], parameters or [])
        return response

    def describe(self: Any, pipeline_execution_arn: str) -> dict[str, Any]:
        response: dict[str, Any] = original_describe(self, pipeline_execution_arn)
        execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
        reason = execution.pipeline_execution_failure_reason
        response["FailureReason"] = reason or ""
        if not reason:
            response.pop("FailureReason")
        return response

    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(SageMakerModelBackend, "start_pipeline_execution", start)
        )
        stack.enter_context(
            mock.patch.object(SageMakerModelBackend, "describe_pipeline_execution", describe)
        )
        yield


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def fire_schedule(admin: boto3.Session, *, group: str, name: str, at: datetime) -> dict[str, Any]:
    """Send what one tick of the schedule sends, as its role; returns the target's answer."""
    schedule = admin.client("scheduler").get_schedule(GroupName=group, Name=name)
    if schedule.get("State") != "ENABLED":
        raise ServiceError(f"schedule {group}/{name} is {schedule.get('State')}: nothing fires")
    target = schedule["Target"]
    match = UNIVERSAL_TARGET.match(target["Arn"])
    if not match:
        raise ServiceError(f"schedule {name}: only universal targets are fired here")
    payload = (
        str(target.get("Input", "{}"))
        .replace("<aws.scheduler.scheduled-time>", at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
        .replace("<aws.scheduler.schedule-arn>", str(schedule["Arn"]))
        .replace("<aws.scheduler.attempt-number>", "1")
    )
    region = admin.region_name or "us-east-1"
    group_arn = str(schedule["Arn"]).replace(":schedule/", ":schedule-group/").rsplit("/", 1)[0]
    session = service_session(target["RoleArn"], "scheduler", region, source_arn=group_arn)
    client: Any = session.client(match.group(1))  # type: ignore[arg-type]
    answer: dict[str, Any] = getattr(client, _snake(match.group(2)))(**json.loads(payload))
    return answer


def invoke_function(
    admin: boto3.Session, name: str, event: dict[str, Any], *, work: Path, endpoint: str
) -> subprocess.CompletedProcess[str]:
    """Run the deployed function's handler once with `event`, as Lambda would."""
    from moto.awslambda.models import lambda_backends

    lam = admin.client("lambda")
    config = lam.get_function_configuration(FunctionName=name)
    region = admin.region_name or "us-east-1"
    account = config["FunctionArn"].split(":")[4]
    code = lambda_backends[account][region].get_function(name).code_bytes
    package = work / name
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        archive.extractall(package)
    role = service_session(config["Role"], "lambda", region, config["FunctionArn"])
    environment = {
        **config.get("Environment", {}).get("Variables", {}),
        **credentials_environment(role), "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": name, "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", _BOOTSTRAP, str(package), config["Handler"],
         config["FunctionArn"], str(config.get("Timeout", 3))],
        input=json.dumps(event), env=environment, capture_output=True, text=True,
        timeout=config.get("Timeout", 3) + 30, check=False,
    )  # fmt: skip
