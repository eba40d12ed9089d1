"""Three moto accounts (dev, pre-prod, prod) reached through assume_role, and a call recorder."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    account_session,
    create_bucket,
)
from testbed.seed import ApprovalStatus

GROUP = "churn-model"
DEV_BUCKET = "dev-ml-artifacts"
TARGET_BUCKET = "pre-prod-artifacts"
FEATURES = "f0 f1 f2"
MUTATING_PREFIXES = (
    "Create", "Put", "Copy", "Upload", "Complete", "Delete", "Update", "Abort", "Add", "Start",
)  # fmt: skip


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dev(aws: None) -> boto3.Session:
    session = account_session(DEV_ACCOUNT)
    create_bucket(session, DEV_BUCKET)
    session.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    return session


@pytest.fixture
def pre_prod(aws: None) -> boto3.Session:
    session = account_session(PRE_PROD_ACCOUNT)
    create_bucket(session, TARGET_BUCKET)
    return session


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a pre-prod stage file; keyword arguments override keys."""

    def write(**overrides: Any) -> Path:
        repo_file = DEMO_STAGES / "pre-prod-config.tfvars.json"
        values = json.loads(repo_file.read_text())
        values.update(
            model_package_group_name=GROUP,
            artifacts_bucket=TARGET_BUCKET,
            feature_columns=None,
        )
        values.update(overrides)
        path = tmp_path / "pre-prod-config.tfvars.json"
        path.write_text(json.dumps(values, indent=2))
        return path

    return write


Call = tuple[str, str, dict[str, Any]]


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every (service, operation, parameters) called through botocore from now on."""
    calls: list[Call] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private to botocore)

    def record(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        calls.append((self.meta.service_model.service_name, operation_name, dict(api_params)))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls


def mutating(calls: list[Call]) -> list[tuple[str, str]]:
    """The calls that change something in AWS."""
    return [(c[0], c[1]) for c in calls if c[1].startswith(MUTATING_PREFIXES)]


def register(
    dev: boto3.Session,
    status: ApprovalStatus = "Approved",
    *,
    group: str = GROUP,
    model_data: bytes = b"model-bytes",
    run: str = "run-1",
    metadata: dict[str, str] | None = None,
) -> str:
    """Register a package whose artifacts exist in the dev bucket; return its ARN."""
    s3 = dev.client("s3")
    prefix = f"s3://{DEV_BUCKET}/{run}"
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/model.tar.gz", Body=model_data)
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/sourcedir.tar.gz", Body=b"code")
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/evaluation.json", Body=b'{"auc": 0.9}')
    s3.put_object(Bucket=DEV_BUCKET, Key=f"{run}/baseline.json", Body=b'{"mean": 1}')
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    return dev.client("sagemaker").create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        ModelPackageDescription=f"training {run}",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": image,
                    "ModelDataUrl": f"{prefix}/model.tar.gz",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": f"{prefix}/sourcedir.tar.gz",
                        "MODEL_THRESHOLD": "0.42",
                    },
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedTransformInstanceTypes": ["ml.m5.xlarge"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"{prefix}/evaluation.json",
                }
            }
        },
        DriftCheckBaselines={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"{prefix}/baseline.json",
                }
            }
        },
        CustomerMetadataProperties=metadata or {"feature_columns": FEATURES, "team": "risk"},
        Domain="MACHINE_LEARNING",
        Task="CLASSIFICATION",
    )["ModelPackageArn"]
