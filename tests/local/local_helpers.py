"""Helpers of the local runner tests: tiny models, packages, definitions and S3 shortcuts."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import boto3
import joblib

REGION = "us-east-1"
BUCKET = "local-runner-tests"
# AWS's serving images in REGION (the SDK's image tables list these registries).
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
OWN_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/churn-server:3"
ROOT = Path(__file__).resolve().parents[2]

# A user module with only model_fn: every other hook is the container's default.
DEFAULT_HOOKS_MODULE = """
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


def model_archive(model: Any, module_source: str, *, name: str = "inference.py") -> bytes:
    """A model.tar.gz: model.joblib at the root, the user module under code/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for arcname, data in (
            ("model.joblib", _joblib_bytes(model)),
            (f"code/{name}", textwrap.dedent(module_source).encode()),
        ):
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _joblib_bytes(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def register_package(
    sess: boto3.Session,
    model: Any,
    module_source: str = DEFAULT_HOOKS_MODULE,
    *,
    group: str = "local-tests",
    environment: dict[str, str] | None = None,
) -> str:
    """Upload a model archive and create a model package for it; return the package ARN."""
    key = f"models/{group}/model.tar.gz"
    sess.client("s3").put_object(Bucket=BUCKET, Key=key, Body=model_archive(model, module_source))
    sm = sess.client("sagemaker")
    groups = sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
    if group not in [g["ModelPackageGroupName"] for g in groups]:
        sm.create_model_package_group(ModelPackageGroupName=group)
    env = {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": REGION,
        **(environment or {}),
    }
    container: dict[str, Any] = {
        "Image": SKLEARN_IMAGE,
        "ModelDataUrl": f"s3://{BUCKET}/{key}",
        "Environment": env,
    }
    spec = {
        "Containers": [container],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    return sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification=spec,  # type: ignore[arg-type]
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]


def transform_definition(
    *,
    input_uri: str = f"s3://{BUCKET}/input/",
    output_uri: str = f"s3://{BUCKET}/output",
    content_type: str | None = "text/csv",
    accept: str | None = "text/csv",
    split_type: str = "Line",
    assemble_with: str = "Line",
    **extra: Any,
) -> dict[str, Any]:
    """A definition with one Transform step; ``extra`` goes into its Arguments."""
    transform_input: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
        "SplitType": split_type,
    }
    if content_type is not None:
        transform_input["ContentType"] = content_type
    transform_output: dict[str, Any] = {"S3OutputPath": output_uri, "AssembleWith": assemble_with}
    if accept is not None:
        transform_output["Accept"] = accept
    arguments = {
        "ModelName": {"Get": "Parameters.ModelName"},
        "TransformInput": transform_input,
        "TransformOutput": transform_output,
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        **extra,
    }
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "ModelName", "Type": "String", "DefaultValue": "absent-model"}],
        "Steps": [{"Name": "Transform", "Type": "Transform", "Arguments": arguments}],
    }


def run_transform_locally(sess: boto3.Session, arn: str, work: Path) -> int:
    """`run_pipeline --local` over `transform_definition()` (written into `work`); its exit."""
    from pipelines import run_pipeline

    path = work / "definition.json"
    path.write_text(json.dumps(transform_definition()))
    return run_pipeline.main(
        ["--local", "--definition", str(path), "--model-package-arn", arn],
        session_factory=lambda **_: sess,
    )


def put(sess: boto3.Session, key: str, body: bytes | str) -> None:
    """Write one test object."""
    data = body.encode() if isinstance(body, str) else body
    sess.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)


def get(sess: boto3.Session, key: str) -> bytes:
    """Read one test object."""
    return sess.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


def keys(sess: boto3.Session, prefix: str) -> list[str]:
    """Keys under a prefix."""
    listed = sess.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def archive(files: dict[str, bytes | str]) -> bytes:
    """A model.tar.gz holding ``files`` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = textwrap.dedent(content).encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def register_containers(
    sess: boto3.Session, containers: list[dict[str, Any]], *, group: str = "kinds"
) -> str:
    """A model package with these containers; each ``files`` entry becomes its model.tar.gz."""
    sm = sess.client("sagemaker")
    groups = sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
    if group not in [g["ModelPackageGroupName"] for g in groups]:
        sm.create_model_package_group(ModelPackageGroupName=group)
    described: list[dict[str, Any]] = []
    for index, container in enumerate(containers):
        entry = {key: value for key, value in container.items() if key != "files"}
        if "files" in container:
            key = f"models/{group}/{len(described)}-{index}/model.tar.gz"
            put(sess, key, archive(container["files"]))
            entry["ModelDataUrl"] = f"s3://{BUCKET}/{key}"
        described.append(entry)
    return sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={  # type: ignore[arg-type,misc]
            "Containers": described,
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
