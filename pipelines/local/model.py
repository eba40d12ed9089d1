"""Find a Transform step's model and lay it out like the container's /opt/ml/model."""

from __future__ import annotations

import logging
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipelines.local.errors import StepError
from pipelines.local.s3io import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

logger = logging.getLogger(__name__)

MODEL_PREFIX = "/opt/ml/model"
DEFAULT_CODE_DIR = "/opt/ml/code"


@dataclass(frozen=True)
class ModelSpec:
    """What a transform needs to know about its model."""

    model_data_url: str
    environment: dict[str, str]
    source: str  # the model package ARN, or the model name when it has no package


def _find_model(sm: SageMakerClient, name: str) -> dict[str, Any] | None:
    paginator = sm.get_paginator("list_models")
    for page in paginator.paginate(NameContains=name):
        for model in page.get("Models", []):
            if model["ModelName"] == name:
                return _describe_model(sm, name)
    return None


def _describe_model(sm: SageMakerClient, name: str) -> dict[str, Any]:
    """DescribeModel; a model gone since it was listed fails the step."""
    try:
        return dict(sm.describe_model(ModelName=name))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        raise StepError(f"model {name} cannot be described: {err}") from err


def _from_package(sm: SageMakerClient, package: str) -> ModelSpec:
    try:
        described = sm.describe_model_package(ModelPackageName=package)
    except ClientError as err:
        raise StepError(f"cannot describe model package {package}: {err}") from err
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    if not containers or "ModelDataUrl" not in containers[0]:
        raise StepError(f"model package {package} has no container with a ModelDataUrl")
    if len(containers) > 1:
        logger.warning(
            "model package %s has %d containers; using the first", package, len(containers)
        )
    first = containers[0]
    return ModelSpec(first["ModelDataUrl"], dict(first.get("Environment", {})), package)


def resolve_model(sm: SageMakerClient, model_name: str, fallback_arn: str | None) -> ModelSpec:
    """ModelName -> its container's model package (or data), else the given package ARN."""
    model = _find_model(sm, model_name) if model_name else None
    if model is None:
        if fallback_arn:
            return _from_package(sm, fallback_arn)
        raise StepError(
            f"model {model_name!r} does not exist in this account/region; create it or pass "
            "the model package ARN (--model-package-arn)"
        )
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    if container.get("ModelPackageName"):
        return _from_package(sm, container["ModelPackageName"])
    if container.get("ModelDataUrl"):
        return ModelSpec(
            container["ModelDataUrl"], dict(container.get("Environment", {})), model_name
        )
    raise StepError(f"model {model_name} has neither a ModelPackageName nor a ModelDataUrl")


def _extract(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as err:
        raise StepError(f"cannot extract {archive.name}: {err}") from err


def download_model(s3: S3Client, spec: ModelSpec, model_dir: Path) -> None:
    """Download model.tar.gz and extract it into ``model_dir`` (the local /opt/ml/model)."""
    uri = S3Uri.parse(spec.model_data_url)
    archive = model_dir.parent / "model.tar.gz"
    try:
        s3.download_file(uri.bucket, uri.key, str(archive))
    except ClientError as err:
        raise StepError(f"cannot download model data {uri}: {err}") from err
    _extract(archive, model_dir)
    archive.unlink()


def code_dir(s3: S3Client, submit_dir: str | None, model_dir: Path, work_dir: Path) -> Path:
    """Where the user module lives, from SAGEMAKER_SUBMIT_DIRECTORY.

    ``/opt/ml/model/...`` maps into the extracted model, an ``s3://...tar.gz`` is downloaded and
    extracted, ``/opt/ml/code`` (the default) maps to an empty work directory, and any other
    path is taken as a directory or tar file on this machine.
    """
    value = submit_dir or DEFAULT_CODE_DIR
    if value == MODEL_PREFIX or value.startswith(MODEL_PREFIX + "/"):
        return model_dir / value[len(MODEL_PREFIX) :].lstrip("/")
    target = work_dir / "code"
    target.mkdir(parents=True, exist_ok=True)
    if value.startswith("s3://"):
        uri = S3Uri.parse(value)
        archive = work_dir / "sourcedir.tar.gz"
        try:
            s3.download_file(uri.bucket, uri.key, str(archive))
        except ClientError as err:
            raise StepError(f"cannot download SAGEMAKER_SUBMIT_DIRECTORY {uri}: {err}") from err
        _extract(archive, target)
        return target
    if value == DEFAULT_CODE_DIR:
        return target
    local = Path(value)
    if local.is_dir():
        return local
    if local.is_file():
        _extract(local, target)
        return target
    raise StepError(f"SAGEMAKER_SUBMIT_DIRECTORY {value} is neither in the model, on S3 nor local")
