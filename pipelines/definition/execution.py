"""Start a deployed pipeline and follow its execution (the AWS side of run_pipeline)."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from errors import PromotionError
from promotion.config import StageConfig
from utils import open_identity

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_sagemaker import SageMakerClient

POLL_SECONDS = 30
TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")


def stage_session(
    session_factory: Callable[..., boto3.Session], *, config: StageConfig, role_arn: str | None
) -> boto3.Session:
    """A session in the stage's account (assuming ``role_arn`` first unless already that role).

    Raises:
        AccountMismatchError: the credentials belong to another account than the stage's.
    """
    identity = open_identity(
        session_factory(region_name=config.region),
        label=f"stage ({config.stage})",
        role_arn=role_arn,
        expected_account=config.account_id,
        session_name="run-pipeline",
        config_key="account_id",
    )
    return identity.session


def deployed_definition(sagemaker: SageMakerClient, pipeline_name: str) -> dict[str, Any]:
    """The definition of the deployed pipeline (for its parameter names).

    Raises:
        PromotionError: the pipeline does not exist in this account and region.
    """
    try:
        response = sagemaker.describe_pipeline(PipelineName=pipeline_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFound":
            raise
        raise PromotionError(
            f"pipeline {pipeline_name} does not exist in this account; deploy the stage first"
        ) from error
    definition: dict[str, Any] = json.loads(response.get("PipelineDefinition") or "{}")
    return definition


def start(sagemaker: SageMakerClient, *, pipeline_name: str, parameters: dict[str, str]) -> str:
    """StartPipelineExecution with parameter overrides; returns the execution ARN.

    A client request token makes botocore's retries of this call start one execution only.
    """
    response = sagemaker.start_pipeline_execution(
        PipelineName=pipeline_name,
        PipelineParameters=[{"Name": name, "Value": value} for name, value in parameters.items()],
        ClientRequestToken=uuid.uuid4().hex,
    )
    return response["PipelineExecutionArn"]


def wait(
    sagemaker: SageMakerClient,
    *,
    execution_arn: str,
    timeout: float,
    sleep: Callable[[float], None],
    poll_seconds: float = POLL_SECONDS,
) -> tuple[str, str | None]:
    """Poll until a terminal status or ``timeout`` seconds (a fixed number of attempts).

    Returns:
        The last status and the execution's failure reason; the status is not one of
        `TERMINAL_STATUSES` when the wait timed out.
    """
    attempts = max(1, math.ceil(timeout / poll_seconds))
    status, reason = "Unknown", None
    for attempt in range(attempts + 1):
        response = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        status, reason = response["PipelineExecutionStatus"], response.get("FailureReason")
        if status in TERMINAL_STATUSES or attempt == attempts:
            break
        sleep(poll_seconds)
    return status, reason


def list_steps(sagemaker: SageMakerClient, *, execution_arn: str) -> list[dict[str, str]]:
    """Name, status and failure reason of every step, oldest first."""
    steps = []
    paginator = sagemaker.get_paginator("list_pipeline_execution_steps")
    pages = paginator.paginate(PipelineExecutionArn=execution_arn, SortOrder="Ascending")
    for page in pages:
        for step in page.get("PipelineExecutionSteps", []):
            steps.append(
                {
                    "name": step.get("StepName", "?"),
                    "status": step.get("StepStatus", "?"),
                    "reason": step.get("FailureReason", ""),
                }
            )
    return steps
