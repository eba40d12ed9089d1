"""Promotion internals on moto: what is copied and how, what the target package carries."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from errors import ConfigError, CopyError, PackageFailedError
from promotion import registry
from promotion.artifacts import MIB, SOURCE_ETAG_METADATA, CopySettings, copy_artifact
from promotion.config import load_stage_config
from promotion.output import progress_reporter
from promotion.promote import PromotionResult, apply_promotion, plan_promotion
from promotion.registry import LINEAGE_SOURCE_ARN, LINEAGE_SOURCE_VERSION
from testbed.local_aws import refuse
from testbed.promotion_cases import DEV_BUCKET, GROUP, TARGET_BUCKET, register
from tests.promotion.conftest import Call, mutating

SMALL_PARTS = CopySettings(
    multipart_threshold=5 * MIB, part_size=5 * MIB, stream_part_size=5 * MIB, max_concurrency=2
)


def promote(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_path: Path,
    arn: str,
    *,
    settings: CopySettings = SMALL_PARTS,
    target_s3: Any = None,
) -> PromotionResult:
    config = load_stage_config(config_path)
    source_s3, target_sm = dev.client("s3"), pre_prod.client("sagemaker")
    target_s3 = target_s3 or pre_prod.client("s3")
    plan = plan_promotion(
        config, source_arn=arn, source_sm=dev.client("sagemaker"), source_s3=source_s3,
        target_sm=target_sm, target_s3=target_s3,
    )  # fmt: skip
    return apply_promotion(
        plan, config, source_s3=source_s3, target_sm=target_sm, target_s3=target_s3,
        settings=settings,
    )  # fmt: skip


def target_object(pre_prod: boto3.Session, uri: str) -> bytes:
    key = uri.removeprefix(f"s3://{TARGET_BUCKET}/")
    return bytes(pre_prod.client("s3").get_object(Bucket=TARGET_BUCKET, Key=key)["Body"].read())


def test_environment_metrics_and_metadata_are_preserved(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path]
) -> None:
    # GIVEN a source package with environment, metrics, baselines and custom metadata
    arn = register(dev)
    source = dev.client("sagemaker").describe_model_package(ModelPackageName=arn)

    # WHEN it is promoted
    result = promote(dev, pre_prod, config_file(), arn)

    # THEN the target carries all of it, with S3 URIs pointing at the copies
    target = result.target_package
    source_container = source["InferenceSpecification"]["Containers"][0]
    container = target["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == source_container["Image"]
    environment = container["Environment"]
    assert environment["MODEL_THRESHOLD"] == "0.42"
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"].startswith(f"s3://{TARGET_BUCKET}/")
    assert target_object(pre_prod, environment["SAGEMAKER_SUBMIT_DIRECTORY"]) == b"code"
    assert target_object(pre_prod, container["ModelDataUrl"]) == b"model-bytes"
    metrics_uri = target["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert target_object(pre_prod, metrics_uri) == b'{"auc": 0.9}'
    baseline_uri = target["DriftCheckBaselines"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert target_object(pre_prod, baseline_uri) == b'{"mean": 1}'
    for key in ("SupportedContentTypes", "SupportedTransformInstanceTypes"):
        assert target["InferenceSpecification"][key] == source["InferenceSpecification"][key]
    assert (target["Domain"], target["Task"]) == ("MACHINE_LEARNING", "CLASSIFICATION")
    assert target["ModelApprovalStatus"] == "Approved"
    metadata = target["CustomerMetadataProperties"]
    assert metadata["team"] == "risk" and metadata["feature_columns"] == "f0 f1 f2"
    assert metadata[LINEAGE_SOURCE_ARN] == arn and metadata[LINEAGE_SOURCE_VERSION] == "1"


def test_big_objects_are_copied_server_side_in_parallel_parts(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    api_calls: list[Call],
) -> None:
    # GIVEN a model above the (test-sized) multipart threshold
    data = os.urandom(12 * MIB)
    arn = register(dev, model_data=data)

    result = promote(dev, pre_prod, config_file(), arn)

    # THEN it was copied with UploadPartCopy in 3 parts (as every object, in one part if small),
    # completed create-only, never read by this process, and recorded its source
    model_parts = [
        c for c in api_calls if c[1] == "UploadPartCopy" and "ModelDataUrl" in c[2]["Key"]
    ]
    assert len(model_parts) == 3
    assert {c[2]["CopySourceRange"] for c in model_parts} == {
        f"bytes=0-{5 * MIB - 1}",
        f"bytes={5 * MIB}-{10 * MIB - 1}",
        f"bytes={10 * MIB}-{12 * MIB - 1}",
    }
    completions = [c for c in api_calls if c[1] == "CompleteMultipartUpload"]
    assert len(completions) == 4 and all(c[2]["IfNoneMatch"] == "*" for c in completions)
    assert not [c for c in api_calls if c[1] == "CopyObject"]
    assert not [c for c in api_calls if c[1] == "GetObject"]
    uri = result.target_package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert target_object(pre_prod, uri) == data
    key = uri.removeprefix(f"s3://{TARGET_BUCKET}/")
    head = pre_prod.client("s3").head_object(Bucket=TARGET_BUCKET, Key=key)
    source_etag = dev.client("s3").head_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz")["ETag"]
    assert head["Metadata"][SOURCE_ETAG_METADATA] == source_etag.strip('"')


def test_access_denied_on_server_side_copy_falls_back_to_streaming(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    api_calls: list[Call],
) -> None:
    # GIVEN a target principal that cannot read the source bucket
    data = os.urandom(11 * MIB)
    arn = register(dev, model_data=data)
    target_s3 = pre_prod.client("s3")
    refuse(target_s3, "CopyObject")
    refuse(target_s3, "UploadPartCopy")

    result = promote(dev, pre_prod, config_file(), arn, target_s3=target_s3)

    # THEN every object was streamed: read with the source client, uploaded in parts if big
    assert {c.action for c in result.copies} == {"streamed"}
    assert len([c for c in api_calls if c[1] == "UploadPart"]) == 3
    uri = result.target_package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert target_object(pre_prod, uri) == data


def test_an_empty_artifact_is_written_create_only_without_a_part_copy(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    api_calls: list[Call],
) -> None:
    # GIVEN a model of zero bytes (no byte range to copy in a part)
    arn = register(dev, model_data=b"")

    result = promote(dev, pre_prod, config_file(), arn)

    # THEN it is written by a create-only PutObject of no bytes, recording its source
    uri = result.target_package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    key = uri.removeprefix(f"s3://{TARGET_BUCKET}/")
    puts = [c for c in api_calls if c[1] == "PutObject" and c[2]["Key"] == key]
    assert len(puts) == 1 and puts[0][2]["IfNoneMatch"] == "*"
    assert target_object(pre_prod, uri) == b""
    head = pre_prod.client("s3").head_object(Bucket=TARGET_BUCKET, Key=key)
    assert SOURCE_ETAG_METADATA in head["Metadata"]


def copy_source_if_match(target_s3: Any, source_s3: Any) -> None:
    """UploadPartCopy as S3 answers it: 412 PreconditionFailed when the source's ETag is not
    `x-amz-copy-source-if-match` (S3 API reference, UploadPartCopy); moto ignores the header."""

    def check(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        headers = params["headers"]
        bucket, key = unquote(headers["x-amz-copy-source"]).lstrip("/").split("/", 1)
        current = source_s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        if headers["x-amz-copy-source-if-match"].strip('"') == current:
            return None
        error = {
            "Code": "PreconditionFailed",
            "Condition": "x-amz-copy-source-If-Match",
            "Message": "At least one of the pre-conditions you specified did not hold",
        }
        metadata = {"HTTPStatusCode": 412}
        response = AWSResponse("https://aws.invalid", 412, HTTPHeaders(), None)
        return response, {"Error": error, "ResponseMetadata": metadata}  # fmt: skip

    target_s3.meta.events.register("before-call.s3.UploadPartCopy", check)


@pytest.mark.parametrize("streamed", [False, True], ids=["UploadPartCopy", "GetObject"])
def test_a_source_changed_after_planning_is_told_apart_from_a_target_that_exists(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], streamed: bool
) -> None:
    # GIVEN a plan, then the dev object overwritten before it is copied (server-side: the parts'
    # CopySourceIfMatch fails with 412; streamed, when the target may not read the source:
    # GetObject's IfMatch does)
    arn = register(dev, model_data=os.urandom(11 * MIB))
    config = load_stage_config(config_file())
    source_s3, target_sm, target_s3 = dev.client("s3"), pre_prod.client("sagemaker"), (
        pre_prod.client("s3"))  # fmt: skip
    copy_source_if_match(target_s3, source_s3)
    if streamed:
        refuse(target_s3, "UploadPartCopy")
    plan = plan_promotion(
        config, source_arn=arn, source_sm=dev.client("sagemaker"), source_s3=source_s3,
        target_sm=target_sm, target_s3=target_s3,
    )  # fmt: skip
    source_s3.put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz", Body=b"retrained")

    # WHEN it is applied
    with pytest.raises(CopyError) as refused:
        apply_promotion(plan, config, source_s3=source_s3, target_sm=target_sm,
                        target_s3=target_s3, settings=SMALL_PARTS)  # fmt: skip

    # THEN the line blames the source, not the target: nothing exists to remove
    message = str(refused.value)
    assert f"s3://{DEV_BUCKET}/run-1/model.tar.gz changed after this promotion was planned" in (
        message)  # fmt: skip
    assert "GetObject" in message if streamed else "UploadPartCopy" in message
    assert message.endswith("re-run")
    assert "exists" not in message and "administrator" not in message
    # AND nothing is left behind: no copy of it, the multipart upload aborted (S3 bills parts)
    key = f"model-packages/{GROUP}/v1/InferenceSpecification/Containers/0/ModelDataUrl/"
    assert not pre_prod.client("s3").list_objects_v2(Bucket=TARGET_BUCKET, Prefix=key).get(
        "Contents")  # fmt: skip
    assert not pre_prod.client("s3").list_multipart_uploads(Bucket=TARGET_BUCKET).get("Uploads")


def copy_only(dev: boto3.Session, pre_prod: boto3.Session, config_path: Path, arn: str) -> None:
    """What an interrupted run leaves: the copies, but no target package."""
    config = load_stage_config(config_path)
    plan = plan_promotion(
        config, source_arn=arn, source_sm=dev.client("sagemaker"), source_s3=dev.client("s3"),
        target_sm=pre_prod.client("sagemaker"), target_s3=pre_prod.client("s3"),
    )  # fmt: skip
    for planned in plan.copies:
        copy_artifact(
            planned.copy, source_s3=dev.client("s3"), target_s3=pre_prod.client("s3"),
            source_head=planned.source_head, kms_key_arn=None, settings=SMALL_PARTS,
        )  # fmt: skip


def test_copies_already_made_are_skipped(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path]
) -> None:
    # GIVEN an earlier run that copied the artifacts and stopped before creating the package
    arn = register(dev)
    copy_only(dev, pre_prod, config_file(), arn)

    # WHEN the version is promoted again
    result = promote(dev, pre_prod, config_file(), arn)

    # THEN no object is copied twice and the package is created
    assert [c.action for c in result.copies] == ["skipped"] * 4
    assert result.target_package["ModelPackageStatus"] == "Completed"


def test_a_copy_of_another_size_is_refused_never_overwritten(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path]
) -> None:
    # GIVEN an earlier copy, and another object put over one of them since
    arn = register(dev)
    copy_only(dev, pre_prod, config_file(), arn)
    key = (
        "model-packages/churn-model/v1/InferenceSpecification/Containers/0/"
        "ModelDataUrl/model.tar.gz"
    )
    pre_prod.client("s3").put_object(Bucket=TARGET_BUCKET, Key=key, Body=b"truncated")

    # WHEN the version is promoted again
    with pytest.raises(CopyError) as refused:
        promote(dev, pre_prod, config_file(), arn)

    # THEN the create-only copy is refused by S3's precondition (412), the object is left as it
    # is (a live model may read it), and one line says what to do
    assert f"s3://{TARGET_BUCKET}/{key} exists but is not a current copy" in str(refused.value)
    assert "promote a new version" in str(refused.value)
    assert target_object(pre_prod, f"s3://{TARGET_BUCKET}/{key}") == b"truncated"
    assert not pre_prod.client("s3").list_multipart_uploads(Bucket=TARGET_BUCKET).get("Uploads")


def test_a_missing_source_object_is_reported(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path]
) -> None:
    arn = register(dev)
    dev.client("s3").delete_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz")

    with pytest.raises(CopyError, match="run-1/model.tar.gz, which does not exist"):
        promote(dev, pre_prod, config_file(), arn)


def test_a_mapped_image_is_used_as_given_and_said_to_be_unpinned_when_named_by_tag(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path]
) -> None:
    # GIVEN a package whose image is in the dev account's ECR, and a stage that maps it by tag
    own = "111111111111.dkr.ecr.us-east-1.amazonaws.com/churn:1.0"
    mapped = f"222222222222.dkr.ecr.us-east-1.amazonaws.com/model-images/{GROUP}:1.0"
    arn = register(dev)
    sm = dev.client("sagemaker")
    source = sm.describe_model_package(ModelPackageName=arn)
    spec = source["InferenceSpecification"]
    spec["Containers"][0]["Image"] = own
    arn = sm.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved", InferenceSpecification=spec,
        CustomerMetadataProperties={"feature_columns": "a"},
    )["ModelPackageArn"]  # fmt: skip
    config = load_stage_config(config_file(image_uri_map={own: mapped}))
    # WHEN it is planned (no ECR client: a mapped image is not copied) and promoted
    plan = plan_promotion(
        config, source_arn=arn, source_sm=sm, source_s3=dev.client("s3"),
        target_sm=pre_prod.client("sagemaker"), target_s3=pre_prod.client("s3"),
    )  # fmt: skip
    result = promote(dev, pre_prod, config_file(image_uri_map={own: mapped}), arn)

    # THEN the mapping is used as given, and the plan says it names a tag
    assert [n for n in plan.notices if mapped in n and "not pinned" in n]
    container = result.target_package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == mapped and "ImageDigest" not in container


@pytest.mark.parametrize(
    "mapped",
    [
        "222222222222.dkr.ecr.us-east-1.amazonaws.com/churn:1.0",  # another repository
        "444455556666.dkr.ecr.us-east-1.amazonaws.com/shared/churn:1.0",  # another account
        "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1",  # region
    ],
)
def test_a_mapping_to_an_image_the_execution_role_cannot_pull_is_bad_config(
    config_file: Callable[..., Path], mapped: str
) -> None:
    # GIVEN a stage file mapping an image to one outside the stage's model repository and AWS's
    # registries of its region, which bootstrap's execution role may not pull
    own = "111111111111.dkr.ecr.us-east-1.amazonaws.com/churn:1.0"
    # WHEN it is loaded THEN it is refused in one line naming where the role pulls from
    with pytest.raises(ConfigError, match="which the stage's execution role may not pull") as bad:
        load_stage_config(config_file(image_uri_map={own: mapped}))
    assert f"222222222222.dkr.ecr.us-east-1.amazonaws.com/model-images/{GROUP}" in str(bad.value)
    assert "\n" not in str(bad.value)


def test_an_image_in_a_third_account_is_refused_before_writing(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    api_calls: list[Call],
) -> None:  # fmt: skip
    # GIVEN a package naming an image of another account's ECR (neither dev's, copied, nor AWS's)
    arn = register(dev)
    sm = dev.client("sagemaker")
    spec = sm.describe_model_package(ModelPackageName=arn)["InferenceSpecification"]
    spec["Containers"][0]["Image"] = "444455556666.dkr.ecr.us-east-1.amazonaws.com/shared:1.0"
    arn = sm.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved", InferenceSpecification=spec,
        CustomerMetadataProperties={"feature_columns": "a"},
    )["ModelPackageArn"]  # fmt: skip
    api_calls.clear()
    # WHEN it is promoted THEN it is refused (its first run could not pull it), nothing written
    with pytest.raises(ConfigError, match="444455556666.*may not pull"):
        promote(dev, pre_prod, config_file(), arn)
    assert mutating(api_calls) == []


def test_copies_use_the_stage_kms_key(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path]
) -> None:
    key_arn = pre_prod.client("kms").create_key()["KeyMetadata"]["Arn"]
    arn = register(dev)

    result = promote(dev, pre_prod, config_file(kms_key_arn=key_arn), arn)

    for copy in result.copies:
        head = pre_prod.client("s3").head_object(Bucket=TARGET_BUCKET, Key=copy.copy.target_key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key_arn


def test_a_failed_earlier_promotion_is_refused_with_its_reason(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn = register(dev)
    failed = {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:222222222222:model-package/churn-model/1",
        "ModelPackageStatus": "Failed",
        "ModelPackageStatusDetails": {
            "ValidationStatuses": [{"Name": "x", "Status": "Failed", "FailureReason": "no image"}]
        },
    }
    monkeypatch.setattr(registry, "find_all_promoted", lambda *_, **__: [failed])

    with pytest.raises(
        PackageFailedError, match="is Failed: x: no image; delete it from group churn-model"
    ):
        promote(dev, pre_prod, config_file(), arn)


def test_progress_is_logged_every_ten_percent_off_a_terminal() -> None:
    stream = io.StringIO()
    advance = progress_reporter(stream)("s3://b/model.tar.gz", 100 * MIB)

    for _ in range(20):
        advance(5 * MIB)

    lines = stream.getvalue().splitlines()
    assert [line.split(": ")[1].split("%")[0] for line in lines] == [
        str(p) for p in range(10, 101, 10)
    ]
