"""The embedded AWS answers the pipeline-execution calls the commands make, as AWS documents them
(testbed/moto_fixes.py, corrections 8-10), and names an action it lacks instead of a 500 page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from testbed.local_aws import PRE_PROD_ACCOUNT, REGION, account_session, local_aws

PIPELINE = "answers-pipeline"
DEFINITION = {"Version": "2020-12-01", "Parameters": [], "Steps": []}


@pytest.fixture
def sagemaker() -> Iterator[Any]:
    """A pre-prod SageMaker client on the embedded AWS, with one pipeline."""
    with local_aws():
        client = account_session(PRE_PROD_ACCOUNT).client("sagemaker")
        client.create_pipeline(
            PipelineName=PIPELINE, PipelineDefinition=json.dumps(DEFINITION),
            RoleArn=f"arn:aws:iam::{PRE_PROD_ACCOUNT}:role/any", ClientRequestToken="c" * 32,
        )  # fmt: skip
        yield client


def moto_execution(arn: str) -> Any:
    """moto's own record of the execution (the embedded AWS runs in this process)."""
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[PRE_PROD_ACCOUNT][REGION].pipelines[PIPELINE].pipeline_executions[arn]


def start(sagemaker: Any) -> str:
    arn: str = sagemaker.start_pipeline_execution(PipelineName=PIPELINE)["PipelineExecutionArn"]
    return arn


def test_steps_are_listed_newest_first_by_default_one_page_at_a_time(sagemaker: Any) -> None:
    # GIVEN an execution whose three steps the embedded SageMaker ran (testbed/services.py)
    arn = start(sagemaker)
    names = ("Preprocess", "Transform", "Postprocess")
    moto_execution(arn).steps = [{"StepName": n, "StepStatus": "Succeeded"} for n in names]

    # WHEN they are listed, by default and oldest first one per page
    newest_first = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)
    pages = sagemaker.get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=arn, SortOrder="Ascending", PaginationConfig={"PageSize": 1}
    )
    page_steps = [[s["StepName"] for s in page["PipelineExecutionSteps"]] for page in pages]

    # THEN the default order is newest first, and the pages hold every step once, in order
    assert [s["StepName"] for s in newest_first["PipelineExecutionSteps"]] == list(names[::-1])
    assert page_steps == [[name] for name in names]


def test_an_execution_that_ran_nothing_lists_no_step_and_an_unknown_one_is_not_found(
    sagemaker: Any,
) -> None:
    # GIVEN an execution moto only marked Succeeded, and the ARN of one that never existed
    arn = start(sagemaker)
    unknown = arn.rsplit("/", 1)[0] + "/doesnotexist"

    # WHEN their steps are listed  THEN none for the first, ResourceNotFound for the other
    assert sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)[
        "PipelineExecutionSteps"
    ] == []  # fmt: skip
    with pytest.raises(ClientError) as missing:
        sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=unknown)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"


def test_a_running_execution_is_stopped_and_a_finished_one_kept(sagemaker: Any) -> None:
    # GIVEN one execution still running and one that succeeded
    running, finished = start(sagemaker), start(sagemaker)
    moto_execution(running).pipeline_execution_status = "Executing"

    # WHEN both are stopped
    answers = [
        sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=arn[-32:])
        for arn in (running, finished)
    ]

    # THEN each answer names its execution; the running one is Stopped, the other Succeeded
    assert [a["PipelineExecutionArn"] for a in answers] == [running, finished]
    statuses = [sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)[
        "PipelineExecutionStatus"] for arn in (running, finished)]  # fmt: skip
    assert statuses == ["Stopped", "Succeeded"]


def test_an_action_the_embedded_aws_lacks_is_named_at_once(sagemaker: Any) -> None:
    # GIVEN an action moto does not implement
    arn = start(sagemaker)

    # WHEN it is called
    with pytest.raises(ClientError) as refused:
        sagemaker.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="r" * 32)

    # THEN the answer is AWS's for an unknown action, naming it, and it was not retried
    error = refused.value.response
    assert error["Error"]["Code"] == "InvalidAction"
    assert "does not implement sagemaker:RetryPipelineExecution" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    # ... a query-protocol service answers the same way (IAM: an XML body)
    with pytest.raises(ClientError) as iam_refused:
        boto3.client("iam").generate_service_last_accessed_details(Arn=arn)
    assert iam_refused.value.response["Error"]["Code"] == "InvalidAction"


def test_a_pipeline_whose_role_cannot_be_assumed_fails_its_execution(sagemaker: Any) -> None:
    # GIVEN the embedded SageMaker running started pipelines, and a pipeline whose role is missing
    from testbed.services import running_pipelines

    with running_pipelines():
        # WHEN it is started
        arn = start(sagemaker)
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)

    # THEN the start was accepted and the execution failed, saying why (not a 500 page)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "cannot assume" in described["FailureReason"] and "no such role" in described[
        "FailureReason"
    ]  # fmt: skip
