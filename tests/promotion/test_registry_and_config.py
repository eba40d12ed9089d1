"""Pure and stubbed checks: stage config validation, waits, names, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import build
from errors import ConfigError, NoApprovedPackageError, PackageFailedError, WaitTimeoutError
from pipelines.definition.stage_build import feature_columns_for
from promotion.config import VpcConfig, default_config_path, load_stage_config
from promotion.package import (
    build_create_request,
    model_identity,
    model_name_for,
    plan_references,
    rewrite_uris,
)
from promotion.promote import create_package_shape
from promotion.registry import resolve_latest_approved, wait_until_completed
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, refuse, role_arn
from testbed.promotion_cases import register

ARN = "arn:aws:sagemaker:us-east-1:222222222222:model-package/churn-model/1"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("account_id", "2222", "key 'account_id' '2222' is not a 12-digit AWS account id"),
        ("sagemaker_execution_role_arn", "role/x", "key 'sagemaker_execution_role_arn'"),
        ("artifacts_bucket", "Bad_Bucket", "key 'artifacts_bucket' 'Bad_Bucket' is not a valid"),
        ("kms_key_arn", "alias/x", "key 'kms_key_arn' 'alias/x' is not a KMS key or alias ARN"),
        ("processing_instance_count", True, "key 'processing_instance_count' must be a whole"),
        ("max_payload_mb", 101, "key 'max_payload_mb' must be a whole number from 1 to 100"),
        ("feature_columns", ["a", "a"], "key 'feature_columns' column names must be unique"),
        ("input_data_url", "bucket/x", "key 'input_data_url' must be an s3://bucket/prefix URL"),
        # S3Prefix inputs match by key prefix: without '/' input-archive/ is read too
        (
            "input_data_url",
            "s3://b-1/input",
            "key 'input_data_url' 's3://b-1/input' must end with '/' (without it S3 also "
            "matches sibling prefixes such as s3://b-1/input-archive/): write s3://b-1/input/",
        ),
        (
            "evaluation_input_url",
            "s3://b-1/eval",
            "key 'evaluation_input_url' 's3://b-1/eval' must end with '/'",
        ),
        # the roles are granted <prefix>*: without '/' another model's predictions-x/ too
        (
            "output_data_url",
            "s3://b-1/predictions",
            "key 'output_data_url' 's3://b-1/predictions' must end with '/'",
        ),
        ("schedule_expression", "daily", "key 'schedule_expression' 'daily' is not rate(N unit)"),
        ("source_account_id", "222222222222", "key 'account_id' equals 'source_account_id'"),
    ],
)
def test_bad_config_values_name_the_file_and_key(
    config_file: Callable[..., Path], key: str, value: object, message: str
) -> None:
    path = config_file(**{key: value})
    with pytest.raises(ConfigError) as error:
        load_stage_config(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"id_column": "ID", "prediction_columns": ["id:string", "score"]}, "ID and id"),
        ({"prediction_columns": ["Score", "score:bigint"]}, "Score and score"),
        ({"prediction_columns": ["Run_Date:string"]}, "Run_Date and run_date"),
        ({"prediction_columns": ["DT"]}, "DT and dt"),
        ({"id_column": "Prediction", "prediction_columns": None}, "Prediction and prediction"),
    ],
)
def test_results_columns_equal_once_lower_cased_are_refused_naming_them(
    config_file: Callable[..., Path], values: dict[str, object], named: str
) -> None:
    # GIVEN result columns that differ only in case (Glue holds them in lower case: one column)
    path = config_file(**values)
    # WHEN the stage file is read, THEN one line names them
    with pytest.raises(ConfigError) as error:
        load_stage_config(path)
    message = str(error.value)
    assert f"name {named}, one column once lower-cased" in message and "\n" not in message


def test_mixed_case_results_columns_that_differ_lower_cased_are_kept(
    config_file: Callable[..., Path],
) -> None:
    config = load_stage_config(
        config_file(id_column="userId", prediction_columns=["Label:string", "churnScore"])
    )
    assert (config.id_column, config.prediction_columns) == (
        "userId",
        ("Label:string", "churnScore"),
    )


def test_missing_key_is_named(config_file: Callable[..., Path], tmp_path: Path) -> None:
    values = json.loads(config_file().read_text())
    del values["region"]
    path = tmp_path / "no-region.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match="key 'region' is missing"):
        load_stage_config(path)


def test_malformed_json_names_file_and_line_before_any_aws_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pre-prod-config.tfvars.json"
    path.write_text('{\n  "stage": "pre-prod",\n  "account_id": 2222\n  "region": "x"\n}\n')

    code = build.main(["--stage", "pre-prod", "--config", str(path)])

    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"build.py: error: {path}:4:")
    assert "malformed JSON" in error and "\n" not in error


def test_stage_must_match_the_file(config_file: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match="key 'stage' is 'pre-prod' but --stage is 'prod'"):
        load_stage_config(config_file(), stage="prod")


def test_bad_role_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build.main(["--stage", "pre-prod", "--target-role-arn", "deployer"])
    assert "is not an IAM role ARN" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("account", "service", "operation", "code", "expected"),
    [
        (
            DEV_ACCOUNT, "sagemaker", "DescribeModelPackage", "AccessDeniedException",
            [f"source (dev) account {DEV_ACCOUNT}", role_arn(DEV_ACCOUNT),
             "may not call DescribeModelPackage"],
        ),
        (
            PRE_PROD_ACCOUNT, "s3", "HeadObject", "ExpiredToken",
            [f"target (pre-prod) account {PRE_PROD_ACCOUNT}", role_arn(PRE_PROD_ACCOUNT),
             "are expired or invalid (ExpiredToken) while calling HeadObject"],
        ),
    ],
)  # fmt: skip
def test_refused_calls_name_account_role_and_action(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    account: str,
    service: str,
    operation: str,
    code: str,
    expected: list[str],
) -> None:
    # GIVEN a role whose call AWS refuses (access denied, or credentials expired)
    register(dev)
    original = build.Identity.client

    def client(self: build.Identity, name: str) -> object:
        made = original(self, name)
        if self.account_id == account and name == service:
            refuse(made, operation, code)
        return made

    monkeypatch.setattr(build.Identity, "client", client)

    # WHEN build.py runs
    exit_code = build.main(
        ["--stage", "pre-prod", "--config", str(config_file()), "--output-dir", str(tmp_path),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT)]
    )  # fmt: skip

    # THEN one line names the account, the role and the API call
    assert exit_code == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "Traceback" not in error
    for part in expected:
        assert part in error


def test_failed_package_ends_the_wait_with_its_reason() -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sm) as stub:
        stub.add_response(
            "describe_model_package",
            {
                "ModelPackageName": "x",
                "ModelPackageArn": ARN,
                "CreationTime": "2026-01-01",
                "ModelPackageStatus": "Failed",
                "ModelPackageStatusDetails": {
                    "ValidationStatuses": [
                        {"Name": "v", "Status": "Failed", "FailureReason": "image not found"}
                    ]
                },
            },  # fmt: skip
            {"ModelPackageName": ARN},
        )
        with pytest.raises(PackageFailedError, match="is Failed: v: image not found"):
            wait_until_completed(sm, ARN, sleep=lambda _: None)
        stub.assert_no_pending_responses()


def test_wait_is_bounded() -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    slept: list[float] = []
    pending = {
        "ModelPackageName": "x", "ModelPackageArn": ARN, "CreationTime": "2026-01-01",
        "ModelPackageStatus": "InProgress", "ModelPackageStatusDetails": {"ValidationStatuses": []},
    }  # fmt: skip
    with Stubber(sm) as stub:
        for _ in range(3):
            stub.add_response("describe_model_package", pending, {"ModelPackageName": ARN})
        with pytest.raises(WaitTimeoutError, match="not Completed after 6 s"):
            wait_until_completed(sm, ARN, delay=2, max_attempts=3, sleep=slept.append)
        stub.assert_no_pending_responses()
    assert slept == [2, 2]


APPROVED_QUERY = {
    "ModelPackageGroupName": "churn-model", "ModelApprovalStatus": "Approved",
    "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100,
}  # fmt: skip


@pytest.mark.parametrize("found", [True, False], ids=["found-on-page-3", "none-approved"])
def test_empty_pages_with_a_next_token_are_followed(found: bool) -> None:
    # GIVEN a SageMaker whose first two pages hold no Approved package but carry a NextToken
    # (it filters each page by status after taking it), and whose third holds one, or none
    sm = boto3.client("sagemaker", region_name="us-east-1")
    last: dict[str, Any] = {"ModelPackageSummaryList": []}
    if found:
        last["ModelPackageSummaryList"] = [{
            "ModelPackageArn": ARN.replace("222222222222", "111111111111"),
            "CreationTime": "2026-01-01", "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "Approved",
        }]  # fmt: skip
    with Stubber(sm) as stub:
        stub.add_response("list_model_packages", {"ModelPackageSummaryList": [], "NextToken": "a"},
                          APPROVED_QUERY)  # fmt: skip
        stub.add_response("list_model_packages", {"ModelPackageSummaryList": [], "NextToken": "b"},
                          {**APPROVED_QUERY, "NextToken": "a"})  # fmt: skip
        stub.add_response("list_model_packages", last, {**APPROVED_QUERY, "NextToken": "b"})

        # WHEN the latest Approved version is resolved
        if found:
            # THEN it is the one on the third page
            arn = resolve_latest_approved(sm, group="churn-model", account_id="111111111111")
            assert arn == last["ModelPackageSummaryList"][0]["ModelPackageArn"]
        else:
            # THEN only once the pages end is there none
            with pytest.raises(NoApprovedPackageError, match="no Approved model package"):
                resolve_latest_approved(sm, group="churn-model", account_id="111111111111")
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("group", ["a", "churn-model", "x" * 63])
def test_model_names_are_valid_and_short(group: str) -> None:
    name = model_name_for(group, "pre-prod-cmp", 12345, "0123abcd")
    assert name.endswith("-pre-prod-cmp-v12345-0123abcd")
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)


def test_a_model_that_cannot_change_in_place_gets_a_new_name() -> None:
    # GIVEN a stage and its package (the role and the network are fixed when a model is created)
    config = load_stage_config(default_config_path("pre-prod"))
    package = "arn:aws:sagemaker:us-east-1:222222222222:model-package/churn/4"
    same = model_identity(config, package)
    subnets = ("subnet-0fedcba9876543210", "subnet-0123456789abcdef0")
    network = VpcConfig(subnet_ids=subnets, security_group_ids=("sg-0123456789abcdef0",))
    # WHEN the role, the network or the package changes THEN the identity changes; the order of
    # subnets (a set to SageMaker) does not
    changed = [
        model_identity(config.model_copy(update={"sagemaker_execution_role_arn": "arn:aws:iam::"
                                                 "222222222222:role/other"}), package),
        model_identity(config.model_copy(update={"vpc_config": network}), package),
        model_identity(config, package.replace("/4", "/5")),
    ]  # fmt: skip
    assert same == model_identity(config, package) and same not in changed
    assert len(set(changed)) == 3
    reordered = network.model_copy(update={"subnet_ids": subnets[::-1]})
    assert (
        model_identity(config.model_copy(update={"vpc_config": reordered}), package) == changed[1]
    )


def test_uris_are_rewritten_only_when_equal() -> None:
    value = {"a": "s3://b/k", "b": ["s3://b/k2", "s3://b/k"], "c": "see s3://b/k"}
    assert rewrite_uris(value, {"s3://b/k": "s3://t/k"}) == {
        "a": "s3://t/k", "b": ["s3://b/k2", "s3://t/k"], "c": "see s3://b/k",
    }  # fmt: skip


def _prefix_request(uri: str, **source: str) -> dict[str, object]:
    data = {"S3Uri": uri, "S3DataType": "S3Prefix", "CompressionType": "None", **source}
    return {"InferenceSpecification": {"Containers": [{"ModelDataSource": {"S3DataSource": data}}]}}


def test_prefix_model_data_is_planned_as_a_prefix_below_its_place() -> None:
    # GIVEN a package whose model data is an uncompressed key prefix
    request = _prefix_request("s3://b/models/run-1/")
    # WHEN its references are planned
    (reference,) = plan_references(request, bucket="t", prefix="x/")
    # THEN the copy is a prefix at the data's place, and objects keep their path below it
    place = "InferenceSpecification/Containers/0/ModelDataSource/S3DataSource/S3Uri"
    assert reference.is_prefix and reference.target_uri == f"s3://t/x/{place}/"
    copy = reference.prefix_copy("weights/part-1.bin")
    assert copy.source_uri == "s3://b/models/run-1/weights/part-1.bin"
    assert copy.target_key == f"x/{place}/weights/part-1.bin"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (_prefix_request("s3://b/p"), "does not end with '/'"),
        (_prefix_request("s3://b/p/", CompressionType="Gzip"), "CompressionType Gzip"),
        (_prefix_request("s3://b/p/", ManifestS3Uri="s3://b/m.csv"), "manifest file"),
        ({"InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://b/dir/"}]}},
         "not an object"),
    ],
)  # fmt: skip
def test_package_forms_sagemaker_gives_no_meaning_are_bad_input(
    request_: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_references(request_, bucket="t", prefix="x/")


def test_source_etags_and_project_do_not_travel() -> None:
    create = create_package_shape(boto3.client("sagemaker", region_name="us-east-1"))
    source = {
        "ModelPackageArn": ARN,
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": "i",
                    "ModelDataETag": "abc",
                    "ModelDataSource": {
                        "S3DataSource": {
                            "S3Uri": "s3://b/model.tar.gz",
                            "S3DataType": "S3Object",
                            "CompressionType": "Gzip",
                            "ETag": "abc",
                        }
                    },  # fmt: skip
                }
            ]
        },
        "MetadataProperties": {"ProjectId": "p-123", "CommitId": "c0ffee"},
        "CustomerMetadataProperties": {"team": "risk"},
    }

    request = build_create_request(
        source, create_shape=create, uri_map={}, lineage={"l": "1"}, images={},
    )  # fmt: skip

    container = request["InferenceSpecification"]["Containers"][0]
    assert "ModelDataETag" not in container
    assert "ETag" not in container["ModelDataSource"]["S3DataSource"]
    assert request["MetadataProperties"] == {"CommitId": "c0ffee"}
    assert request["CustomerMetadataProperties"] == {
        "team": "risk", "promotion:source-project-id": "p-123", "l": "1",
    }  # fmt: skip


def test_feature_columns_metadata_is_space_or_comma_separated(
    config_file: Callable[..., Path],
) -> None:
    config = load_stage_config(config_file())
    for recorded in ("a b  c", "a,b,c", "a, b c"):
        package = {
            "ModelPackageArn": ARN,
            "CustomerMetadataProperties": {"feature_columns": recorded},
        }
        assert feature_columns_for(config, package) == ("a", "b", "c")
    with pytest.raises(ConfigError, match="key 'feature_columns' is null"):
        feature_columns_for(config, {"ModelPackageArn": ARN})
