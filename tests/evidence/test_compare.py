"""Champion/challenger: the pure comparison, and the CLI with and without a version in prod."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, cast

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from pipelines import compare
from pipelines.evidence.comparison_rows import Column
from pipelines.evidence.quality_comparison import Thresholds, compare_predictions
from promotion.package import model_identity
from promotion.registry import LINEAGE_SOURCE_ARN, LINEAGE_SOURCE_VERSION
from utils import new_session

ACCOUNT = "123456789012"  # moto's default account
IN_ACCOUNT = {
    "account_id": ACCOUNT,
    "sagemaker_execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/batch-execution",
}


def predictions(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"record_id": [f"r{i:03d}" for i in range(len(values))],
                         "prediction": values, "model_package_version": 1})  # fmt: skip


ONE_COLUMN: dict[str, Any] = {
    "id_columns": ["record_id"],
    "prediction_columns": [Column("prediction")],
}


def test_close_versions_pass_and_distant_rows_are_named() -> None:
    # GIVEN two versions that agree except on rows r010 (by 0.5) and r020 (by 0.3)
    base = np.linspace(0, 1, 100)
    other = base.copy()
    other[10] += 0.5
    other[20] -= 0.3
    # WHEN compared with the defaults (0.1 is large, 5 % of rows may be)
    result = compare_predictions(
        predictions(base), predictions(other), thresholds=Thresholds(), **ONE_COLUMN
    )
    # THEN 2 % differ: pass; the rows that differ most come first, by id
    assert result["verdict"] == "pass"
    assert result["large_share"] == pytest.approx(0.02)
    assert [row["record_id"] for row in result["top_differences"][:2]] == ["r010", "r020"]
    assert result["id_columns"] == ["record_id"]
    assert sum(result["histogram"]["champion"]) == 100


def test_versions_that_disagree_fail() -> None:
    # GIVEN label predictions that differ on 10 of 100 rows
    a = np.zeros(100)
    b = a.copy()
    b[:10] = 1
    # WHEN compared THEN labels are recognised and the verdict fails
    result = compare_predictions(
        predictions(a), predictions(b), thresholds=Thresholds(), **ONE_COLUMN
    )
    assert result["labels"] is True
    assert result["agreement"] == pytest.approx(0.9)
    assert result["verdict"] == "fail"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with mock_aws():
        yield new_session(region_name="eu-west-1")


def test_nothing_in_prod_compares_nothing(aws: Any, make_config: Any, tmp_path: Path) -> None:
    # GIVEN prod runs no pipeline yet
    config = make_config(stage="prod", **IN_ACCOUNT, evaluation_input_url="s3://eval-bucket/eval/")
    # WHEN the champion is looked up, then compared with none
    champion = compare.find_champion(aws.client("sagemaker"), config)
    code = compare.main(
        ["--stage", "prod", "--config", str(config.path), "--champion", "", "--challenger", "7",
         "--output", str(tmp_path)],
        session_factory=boto3.Session,
    )  # fmt: skip
    # THEN there is none, and the report says so and compares nothing
    document = json.loads((tmp_path / "comparison.json").read_text())
    assert champion is None
    assert code == 0
    assert document == {
        "status": "nothing",
        "reason": "prod runs no version yet",
        "blocks_prod": False,
    }
    assert "Nothing compared: prod runs no version yet." in (tmp_path / "comparison.md").read_text()


def test_a_version_in_prod_is_compared_with_the_new_one(aws: Any, make_config: Any) -> None:
    # GIVEN both versions promoted into the stage (lineage), and a scorer writing their outputs
    config = make_config(**IN_ACCOUNT, comparison_blocks_prod=True,
                         artifacts_bucket="artifacts-bucket")  # fmt: skip
    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    s3.create_bucket(Bucket="artifacts-bucket",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})  # fmt: skip
    sm.create_model_package_group(ModelPackageGroupName=config.model_package_group_name)
    for version in (6, 7):
        sm.create_model_package(
            ModelPackageGroupName=config.model_package_group_name,
            ModelApprovalStatus="Approved",
            CustomerMetadataProperties={
                LINEAGE_SOURCE_ARN: compare.source_arn(aws, config, version),
                LINEAGE_SOURCE_VERSION: str(version),
            },
        )
    scored: list[tuple[int, str]] = []

    def score(version: int, package_arn: str, output_url: str) -> Any:
        scored.append((version, package_arn.rsplit("/", 1)[-1]))
        values = np.linspace(0, 1, 50) + (0.5 if version == 7 else 0.0)
        buffer = io.BytesIO()
        predictions(values).to_parquet(buffer)
        bucket, key = output_url.removeprefix("s3://").split("/", 1)
        s3.put_object(
            Bucket=bucket, Key=f"{key}2026-01-01/x/part-00000.parquet", Body=buffer.getvalue()
        )
        return lambda: None

    # WHEN compared
    document, report = compare.run_comparison(
        aws, config, champion=6, challenger=7, score=score, run_id="t"
    )
    # THEN each version scored with its own stage package, and the shift fails and blocks prod
    assert scored == [(6, "1"), (7, "2")]
    assert document["verdict"] == "fail" and document["blocks_prod"] is True
    assert report.startswith("### Champion v6 (prod) vs challenger v7: fail (blocks the prod plan)")
    assert report.count("xychart-beta") == 2


def test_the_champion_is_found_through_prod_lineage(aws: Any, make_config: Any) -> None:
    # GIVEN prod's pipeline whose ModelName is a model of the package promoted from version 5
    config = make_config(stage="prod", **IN_ACCOUNT)
    sm = aws.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=config.model_package_group_name)
    package = sm.create_model_package(
        ModelPackageGroupName=config.model_package_group_name,
        CustomerMetadataProperties={LINEAGE_SOURCE_VERSION: "5"},
    )["ModelPackageArn"]
    role = f"arn:aws:iam::{ACCOUNT}:role/execution"
    sm.create_model(ModelName="served-v5", PrimaryContainer={"ModelPackageName": package},
                    ExecutionRoleArn=role)  # fmt: skip
    definition = {"Version": "2020-12-01", "Steps": [], "Parameters": [
        {"Name": "ModelName", "Type": "String", "DefaultValue": "served-v5"}]}  # fmt: skip
    from pipelines.definition.pipeline import pipeline_name_for

    sm.create_pipeline(PipelineName=pipeline_name_for(config), RoleArn=role,
                       PipelineDefinition=json.dumps(definition))  # fmt: skip
    # WHEN looked up THEN version 5
    assert compare.find_champion(sm, config) == 5


class _Session:
    """A session whose SageMaker client is the stubbed one."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, _service: str) -> Any:
        return self._client


def test_a_replaced_champion_scores_with_a_temporary_model_that_is_deleted(
    make_config: Any,
) -> None:
    # GIVEN version 6 has no model in the stage any more (its successor replaced it)
    from botocore.stub import ANY, Stubber

    config = make_config()
    sm = boto3.client("sagemaker", region_name="eu-west-1")
    package = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/breast-cancer-classifier/3"
    temporary = f"breast-cancer-classifier-pre-prod-cmp-v6-{model_identity(config, package)}"
    execution_arn = "arn:aws:sagemaker:eu-west-1:222222222222:pipeline/p/execution/x"
    with Stubber(sm) as stub:
        stub.add_response("list_models", {"Models": []})
        stub.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:eu-west-1:2:model/m"}, {
            "ModelName": temporary, "PrimaryContainer": {"ModelPackageName": package},
            "ExecutionRoleArn": config.sagemaker_execution_role_arn,
            # the tag the compare statements allow creating and deleting under
            "Tags": [{"Key": "ModelPackageGroup", "Value": config.model_package_group_name},
                     {"Key": "Stage", "Value": config.stage}]})  # fmt: skip
        stub.add_response("start_pipeline_execution", {"PipelineExecutionArn": execution_arn}, {
            "PipelineName": "breast-cancer-classifier-pre-prod-batch-inference",
            "PipelineParameters": [{"Name": "ModelName", "Value": temporary},
                                   {"Name": "InputDataUrl", "Value": "s3://eval-bucket/in/"},
                                   {"Name": "OutputDataUrl", "Value": "s3://out-bucket/v6/"}],
            "ClientRequestToken": ANY})  # fmt: skip
        failed = {"PipelineExecutionStatus": "Failed", "FailureReason": "boom"}
        stub.add_response("describe_pipeline_execution", failed)
        stub.add_response("delete_model", {}, {"ModelName": temporary})
        # WHEN it scores and the run fails
        score = compare.remote_scorer(
            cast(boto3.Session, _Session(sm)), config, "s3://eval-bucket/in/", sleep=lambda _s: None
        )
        failure = score(6, package, "s3://out-bucket/v6/")()
        # THEN the failure is reported and the temporary model is gone
        assert failure == "version 6: Failed (boom)"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("champion", "input_url", "reason"),
    [
        ("7", "s3://eval-bucket/in/", "prod already runs version 7"),
        (
            "6",
            None,
            "no evaluation input: add the repository's evaluation rows "
            "(inputs/evaluation-rows.csv) or set evaluation_input_url in the stage config",
        ),
    ],
)
def test_nothing_is_compared_without_two_versions_and_an_input(
    aws: Any, make_config: Any, tmp_path: Path, champion: str, input_url: str | None, reason: str
) -> None:
    # GIVEN a stage WHEN the champion is the challenger, or there is no evaluation input
    config = make_config(**IN_ACCOUNT, evaluation_input_url=input_url)
    code = compare.main(
        ["--stage", "pre-prod", "--config", str(config.path), "--champion", champion,
         "--challenger", "7", "--output", str(tmp_path)],
        session_factory=boto3.Session,
    )  # fmt: skip
    # THEN the report says why and nothing is compared
    assert code == 0
    assert json.loads((tmp_path / "comparison.json").read_text())["reason"] == reason


def test_a_refused_champion_lookup_is_one_line_not_a_traceback(
    aws: Any, make_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN credentials that may not list prod's pipelines
    config = make_config(stage="prod", **IN_ACCOUNT)

    def refusing_session(*args: Any, **kwargs: Any) -> boto3.Session:
        session = boto3.Session(*args, **kwargs)

        def respond(**_: Any) -> Any:
            from botocore.awsrequest import AWSResponse, HTTPHeaders

            error = {"Code": "AccessDenied", "Message": "not authorized: sagemaker:ListPipelines"}
            return AWSResponse("https://aws.invalid", 403, HTTPHeaders(), None), {"Error": error}

        session.events.register("before-call.sagemaker.ListPipelines", respond)
        return session

    # WHEN the workflow's champion lookup runs
    code = compare.main(
        ["--stage", "prod", "--config", str(config.path), "--find-champion"],
        session_factory=refusing_session,
    )

    # THEN it fails with one line naming the refused call, exit 1
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert "\n" not in error and "ListPipelines" in error and "Traceback" not in error
