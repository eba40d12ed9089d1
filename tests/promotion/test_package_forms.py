"""Every package form SageMaker accepts, promoted with the same guarantees as ModelDataUrl, or
refused before anything is written where batch transform cannot run it: ModelDataSource (S3Object
and S3Prefix, compressed or not) in the specification the stage's model runs is refused, as
SageMaker's API reference says batch transform cannot use it; in an additional inference
specification it is promoted (uncompressed prefixes too). Several containers, and SageMaker's
documented limits checked before anything is written."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

import build
from errors import CopyError
from promotion.artifacts import CopySettings
from promotion.config import load_stage_config
from promotion.promote import apply_promotion, plan_promotion
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, role_arn
from testbed.promotion_cases import DEV_BUCKET, GROUP, TARGET_BUCKET
from tests.promotion.conftest import Call, mutating

AWS_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
MODEL_FILES = {"config.json": b"{}", "weights/part-1.bin": b"1" * 100, "weights/part-2.bin": b"22"}
ARCHIVE = f"s3://{DEV_BUCKET}/run-1/model.tar.gz"
# The place of the additional specification's model data (its copy's folder, its listing's name).
EXTRA_PLACE = "AdditionalInferenceSpecifications/0/Containers/0/ModelDataSource/S3DataSource/S3Uri"


def container(data_source: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A container whose model data is the given S3 data source."""
    found: dict[str, Any] = {"Image": AWS_IMAGE, **extra}
    if data_source:
        found["ModelDataSource"] = {"S3DataSource": data_source}
    return found


def register_with(dev: boto3.Session, *containers: dict[str, Any], **extra: Any) -> str:
    """An Approved package of the given containers."""
    specification: Any = {
        "Containers": list(containers), "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }  # fmt: skip
    return str(dev.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification=specification,
        CustomerMetadataProperties={"feature_columns": "f0 f1 f2"}, **extra,
    )["ModelPackageArn"])  # fmt: skip


def register_with_additional(dev: boto3.Session, extra_container: dict[str, Any]) -> str:
    """A package batch transform can run (one archive), with an additional inference
    specification (for endpoints elsewhere) whose container is `extra_container`."""
    dev.client("s3").put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz", Body=b"archive")
    additional = {
        "Name": "uncompressed", "Containers": [extra_container],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
    }  # fmt: skip
    return register_with(dev, container(ModelDataUrl=ARCHIVE),
                         AdditionalInferenceSpecifications=[additional])  # fmt: skip


def additional_data(package: dict[str, Any]) -> dict[str, Any]:
    """The S3 data source of the additional specification's container."""
    extra = package["AdditionalInferenceSpecifications"][0]["Containers"][0]
    source: dict[str, Any] = extra["ModelDataSource"]["S3DataSource"]
    return source


def put_model_files(dev: boto3.Session, prefix: str) -> None:
    for key, body in MODEL_FILES.items():
        dev.client("s3").put_object(Bucket=DEV_BUCKET, Key=f"{prefix}{key}", Body=body)


def prefix_source(prefix: str) -> dict[str, str]:
    return {"S3Uri": f"s3://{DEV_BUCKET}/{prefix}", "S3DataType": "S3Prefix",
            "CompressionType": "None"}  # fmt: skip


def promote(dev: boto3.Session, pre_prod: boto3.Session, config_path: Path, arn: str) -> Any:
    config = load_stage_config(config_path)
    source_s3, target_sm, target_s3 = (
        dev.client("s3"),
        pre_prod.client("sagemaker"),
        pre_prod.client("s3"),
    )
    plan = plan_promotion(
        config, source_arn=arn, source_sm=dev.client("sagemaker"), source_s3=source_s3,
        target_sm=target_sm, target_s3=target_s3,
    )  # fmt: skip
    return apply_promotion(plan, config, source_s3=source_s3, target_sm=target_sm,
                           target_s3=target_s3, settings=CopySettings())  # fmt: skip


def target_keys(pre_prod: boto3.Session, prefix: str = "") -> dict[str, bytes]:
    s3 = pre_prod.client("s3")
    listed = s3.list_objects_v2(Bucket=TARGET_BUCKET, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=TARGET_BUCKET, Key=item["Key"])["Body"].read()
            for item in listed}  # fmt: skip


def run_build(config: Path, out: Path, *extra: str) -> int:
    return build.main(
        ["--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT), *extra]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("model_data", "named"),
    [
        (
            {"ModelDataSource": {"S3DataSource": prefix_source("models/run-1/")}},
            "only as ModelDataSource (S3Prefix)",
        ),
        (
            {
                "ModelDataSource": {
                    "S3DataSource": {
                        "S3Uri": ARCHIVE,
                        "S3DataType": "S3Object",
                        "CompressionType": "Gzip",
                    }
                }
            },
            "only as ModelDataSource (S3Object)",
        ),
        (
            {
                "ModelDataUrl": ARCHIVE,
                "ModelDataSource": {"S3DataSource": prefix_source("models/run-1/")},
            },
            f"a ModelDataSource (S3Prefix s3://{DEV_BUCKET}/models/run-1/) that is not its",
        ),
        (
            {
                "ModelDataUrl": ARCHIVE,
                "AdditionalModelDataSources": [
                    {"ChannelName": "extra", "S3DataSource": prefix_source("models/run-1/")}
                ],
            },
            "has AdditionalModelDataSources",
        ),
    ],
    ids=["prefix only", "object only", "another source beside the archive", "additional sources"],
)
def test_model_data_batch_transform_cannot_use_is_refused_before_writing(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api_calls: list[Call],
    model_data: dict[str, Any], named: str,
) -> None:  # fmt: skip
    # GIVEN a package whose model (what the stage's batch transform runs) names its data in a
    # form SageMaker's API reference says batch transform cannot use
    put_model_files(dev, "models/run-1/")
    dev.client("s3").put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz", Body=b"archive")
    register_with(dev, container(**model_data))
    api_calls.clear()

    # WHEN build.py promotes it
    code = run_build(config_file(), tmp_path / "out")

    # THEN exit 2 (bad input), one line naming the container and the API reference, and
    # nothing is written in the stage
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert "InferenceSpecification.Containers.0" in error[0] and named in error[0]
    assert "SageMaker API Reference, ContainerDefinition.ModelDataSource" in error[0]
    assert mutating(api_calls) == []


def test_a_model_data_source_naming_the_archive_is_promoted_with_it(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
) -> None:  # fmt: skip
    # GIVEN a container with ModelDataUrl and a ModelDataSource naming the same archive
    dev.client("s3").put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz", Body=b"archive")
    mirror = {"S3Uri": ARCHIVE, "S3DataType": "S3Object", "CompressionType": "Gzip"}
    arn = register_with(dev, container(mirror, ModelDataUrl=ARCHIVE))

    # WHEN it is promoted
    result = promote(dev, pre_prod, config_file(), arn)

    # THEN the archive is copied once and both name the copy
    copied = result.target_package["InferenceSpecification"]["Containers"][0]
    assert copied["ModelDataSource"]["S3DataSource"]["S3Uri"] == copied["ModelDataUrl"]
    assert copied["ModelDataUrl"].startswith(f"s3://{TARGET_BUCKET}/")
    assert list(target_keys(pre_prod, f"model-packages/{GROUP}/v1/").values()) == [b"archive"]


def test_an_uncompressed_prefix_is_copied_whole_recorded_and_written_once(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    api_calls: list[Call],
) -> None:  # fmt: skip
    # GIVEN a package whose additional specification's model data is a key prefix of three
    # objects (S3Prefix, None)
    put_model_files(dev, "models/run-1/")
    arn = register_with_additional(dev, container(prefix_source("models/run-1/")))

    # WHEN it is promoted
    result = promote(dev, pre_prod, config_file(), arn)

    # THEN the package names the copied prefix, which holds exactly the source's objects
    data = additional_data(result.target_package)
    assert data["S3DataType"] == "S3Prefix" and data["CompressionType"] == "None"
    target_prefix = data["S3Uri"].removeprefix(f"s3://{TARGET_BUCKET}/")
    copied = target_keys(pre_prod, target_prefix)
    assert {k.removeprefix(target_prefix): v for k, v in copied.items()} == MODEL_FILES
    # AND its listing is recorded beside the copies, not below the prefix SageMaker loads
    listings = target_keys(pre_prod, f"model-packages/{GROUP}/v1/listings/")
    (listing,) = listings.values()
    assert [o["key"] for o in json.loads(listing)["objects"]] == sorted(MODEL_FILES)
    # AND a second promotion writes nothing
    api_calls.clear()
    again = promote(dev, pre_prod, config_file(), arn)
    assert again.reused and mutating(api_calls) == []


@pytest.mark.parametrize(
    ("key", "data_type", "compression"),
    [("model.tar.gz", "S3Object", "Gzip"), ("model.joblib", "S3Object", "None")],
)
def test_a_model_data_source_object_is_copied_compressed_or_not(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    key: str, data_type: str, compression: str,
) -> None:  # fmt: skip
    # GIVEN a package whose additional specification's ModelDataSource names one object
    dev.client("s3").put_object(Bucket=DEV_BUCKET, Key=f"extra/{key}", Body=b"the model")
    source = {"S3Uri": f"s3://{DEV_BUCKET}/extra/{key}", "S3DataType": data_type,
              "CompressionType": compression}  # fmt: skip
    arn = register_with_additional(dev, container(source))
    # WHEN it is promoted
    result = promote(dev, pre_prod, config_file(), arn)
    # THEN the package names the copy, with the source's form
    copied = additional_data(result.target_package)
    assert copied["CompressionType"] == compression and copied["S3DataType"] == data_type
    assert copied["S3Uri"].startswith(f"s3://{TARGET_BUCKET}/") and copied["S3Uri"].endswith(key)
    body = target_keys(pre_prod, copied["S3Uri"].removeprefix(f"s3://{TARGET_BUCKET}/"))
    assert list(body.values()) == [b"the model"]


def test_a_prefix_copy_interrupted_half_way_is_finished_by_a_rerun(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # GIVEN a prefix promotion whose process dies while copying the prefix's second object
    put_model_files(dev, "models/run-1/")
    arn = register_with_additional(dev, container(prefix_source("models/run-1/")))
    from promotion import promote as promote_module

    original = promote_module.copy_artifact
    copied: list[str] = []

    def dies_on_the_second(copy: Any, **kwargs: Any) -> Any:
        if len(copied) == 2:  # the archive and the prefix's first object are copied
            raise KeyboardInterrupt  # the process is killed
        copied.append(copy.source_uri)
        return original(copy, **kwargs)

    monkeypatch.setattr(promote_module, "copy_artifact", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        promote(dev, pre_prod, config_file(), arn)
    # THEN nothing names the half copy: no package, no listing
    assert (
        not pre_prod.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
        or not pre_prod.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)[
            "ModelPackageSummaryList"
        ]
    )
    assert not target_keys(pre_prod, f"model-packages/{GROUP}/v1/listings/")

    # WHEN the run is repeated
    monkeypatch.setattr(promote_module, "copy_artifact", original)
    result = promote(dev, pre_prod, config_file(), arn)

    # THEN it copies only what was missing and completes the prefix
    actions = sorted(c.action for c in result.copies if "/models/run-1/" in c.copy.source_uri)
    assert actions == ["copied", "copied", "skipped"]
    data = additional_data(result.target_package)
    target_prefix = data["S3Uri"].removeprefix(f"s3://{TARGET_BUCKET}/")
    assert len(target_keys(pre_prod, target_prefix)) == len(MODEL_FILES)


def test_an_object_below_the_copied_prefix_that_the_source_lacks_is_refused_before_writing(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    api_calls: list[Call],
) -> None:  # fmt: skip
    # GIVEN a prefix package, and an object someone put below where its copy goes
    put_model_files(dev, "models/run-1/")
    arn = register_with_additional(dev, container(prefix_source("models/run-1/")))
    stray = f"model-packages/{GROUP}/v1/{EXTRA_PLACE}/stray.bin"
    pre_prod.client("s3").put_object(Bucket=TARGET_BUCKET, Key=stray, Body=b"?")
    api_calls.clear()
    # WHEN it is promoted THEN it is refused, naming the object, and nothing is written
    with pytest.raises(CopyError, match="stray.bin is below the copy"):
        promote(dev, pre_prod, config_file(), arn)
    assert mutating(api_calls) == []


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"weights/": b"", "weights/a.bin": b"1"}, "is both a file and the folder|part ''"),
        ({"weights": b"1", "weights/a.bin": b"1"}, "is both a file and the folder"),
    ],
)
def test_a_prefix_sagemaker_cannot_deploy_is_bad_input_in_one_line(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api_calls: list[Call],
    keys: dict[str, bytes], message: str,
) -> None:  # fmt: skip
    for key, body in keys.items():
        dev.client("s3").put_object(Bucket=DEV_BUCKET, Key=f"models/run-1/{key}", Body=body)
    register_with_additional(dev, container(prefix_source("models/run-1/")))
    api_calls.clear()

    code = run_build(config_file(), tmp_path / "out")

    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert re.search(message, error[0])
    assert mutating(api_calls) == []


def test_a_package_over_sagemakers_limits_is_refused_before_writing_one_line_each(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api_calls: list[Call],
) -> None:  # fmt: skip
    # GIVEN a package whose Environment has 204 entries of 4,000 characters (botocore's model of
    # SageMaker: at most 100 entries of 1,024), which moto, like botocore, lets through
    dev.client("s3").put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz", Body=b"m")
    environment = {f"SETTING_{i}": "x" * 4000 for i in range(204)}
    register_with(dev, container(ModelDataUrl=f"s3://{DEV_BUCKET}/run-1/model.tar.gz",
                                 Environment=environment))  # fmt: skip
    api_calls.clear()

    # WHEN build.py promotes it
    code = run_build(config_file(), tmp_path / "out")

    # THEN exit 2, one line per violation (the first ten, then a count), nothing written
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert "Environment has 204 entries; SageMaker allows at most 100" in lines[0]
    assert "is 4000 characters long; SageMaker allows at most 1024" in lines[1]
    assert len(lines) == 11 and "and 195 more" in lines[-1]
    assert all(line.startswith("build.py: error: arn:aws:sagemaker:") for line in lines)
    assert mutating(api_calls) == []


def test_an_inference_pipeline_is_promoted_whole_and_named_in_the_summary(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # GIVEN a package of two containers, each with its own model data
    s3 = dev.client("s3")
    s3.put_object(Bucket=DEV_BUCKET, Key="run-1/featurizer.tar.gz", Body=b"featurizer")
    s3.put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz", Body=b"model")
    arn = register_with(
        dev,
        container(ModelDataUrl=f"s3://{DEV_BUCKET}/run-1/featurizer.tar.gz"),
        container(ModelDataUrl=f"s3://{DEV_BUCKET}/run-1/model.tar.gz"),
    )
    # WHEN build.py promotes it
    code = run_build(config_file(), tmp_path / "out", "--model-package-arn", arn)
    # THEN both containers' data are copied and the summary names an inference pipeline
    assert code == 0
    deployed = json.loads((tmp_path / "out" / "deployment.tfvars.json").read_text())
    package = pre_prod.client("sagemaker").describe_model_package(
        ModelPackageName=deployed["model_package_arn"]
    )
    urls = [c["ModelDataUrl"] for c in package["InferenceSpecification"]["Containers"]]
    assert [target_keys(pre_prod, u.removeprefix(f"s3://{TARGET_BUCKET}/")) for u in urls] == [
        {urls[0].removeprefix(f"s3://{TARGET_BUCKET}/"): b"featurizer"},
        {urls[1].removeprefix(f"s3://{TARGET_BUCKET}/"): b"model"},
    ]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| Inference pipeline | 2 containers, run in sequence" in summary
    assert "InferenceSpecification.Containers.1" in capsys.readouterr().out
