"""Find a Transform step's model: its containers (one, or an inference pipeline's several), each
laid out like the container's /opt/ml/model."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipelines.local.errors import StepError
from pipelines.local.s3io import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

MODEL_PREFIX = "/opt/ml/model"
DEFAULT_CODE_DIR = "/opt/ml/code"
# CreateModel's ContainerDefinition.ModelDataSource: "Currently you cannot use ModelDataSource in
# conjunction with SageMaker batch transform" (SageMaker API Reference, ContainerDefinition).
_NO_DATA_SOURCE = (
    "batch transform cannot use ModelDataSource (SageMaker API Reference, ContainerDefinition); "
    "give the container a ModelDataUrl (a model.tar.gz)"
)


@dataclass(frozen=True)
class ContainerSpec:
    """One container of a model, as DescribeModelPackage or DescribeModel gives it."""

    image: str
    environment: dict[str, str] = field(default_factory=dict)
    model_data_url: str | None = None
    framework: str | None = None

    def label(self, index: int, count: int) -> str:
        """``image`` alone, or ``container 2 of 3 (image)`` in an inference pipeline."""
        return self.image if count == 1 else f"container {index + 1} of {count} ({self.image})"


@dataclass(frozen=True)
class ModelSpec:
    """What a transform needs to know about its model: its containers, in invocation order."""

    containers: tuple[ContainerSpec, ...]
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


def _container(raw: dict[str, Any], where: str) -> ContainerSpec:
    if raw.get("ModelDataSource") and not raw.get("ModelDataUrl"):
        raise StepError(f"{where}: {_NO_DATA_SOURCE}")
    return ContainerSpec(
        image=str(raw.get("Image", "")),
        environment={str(k): str(v) for k, v in (raw.get("Environment") or {}).items()},
        model_data_url=raw.get("ModelDataUrl"),
        framework=raw.get("Framework"),
    )


def _package_containers(sm: SageMakerClient, package: str) -> list[ContainerSpec]:
    try:
        described = sm.describe_model_package(ModelPackageName=package)
    except ClientError as err:
        raise StepError(f"cannot describe model package {package}: {err}") from err
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    if not containers:
        raise StepError(f"model package {package} has no InferenceSpecification.Containers")
    return [_container(dict(raw), f"model package {package}") for raw in containers]


def _model_containers(sm: SageMakerClient, model: dict[str, Any]) -> list[ContainerSpec]:
    """A model's containers; each one naming a package stands for that package's containers."""
    name = model["ModelName"]
    raw = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers")
    if not raw:
        raise StepError(f"model {name} has neither a PrimaryContainer nor Containers")
    mode = (model.get("InferenceExecutionConfig") or {}).get("Mode", "Serial")
    if len(raw) > 1 and mode != "Serial":
        raise StepError(
            f"model {name} runs its containers in {mode} mode, which needs a target container per "
            "request; batch transform needs a Serial inference pipeline"
        )
    found: list[ContainerSpec] = []
    for container in raw:
        if container.get("ModelPackageName"):
            found += _package_containers(sm, container["ModelPackageName"])
        elif container.get("ModelDataSource") and not container.get("ModelDataUrl"):
            raise StepError(f"model {name}: {_NO_DATA_SOURCE}")
        else:
            found.append(_container(dict(container), f"model {name}"))
    return found


def resolve_model(sm: SageMakerClient, model_name: str, fallback_arn: str | None) -> ModelSpec:
    """ModelName -> its containers (through its model packages), else the given package's."""
    model = _find_model(sm, model_name) if model_name else None
    if model is not None:
        first = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        source = str(first.get("ModelPackageName") or model_name)
        return ModelSpec(tuple(_model_containers(sm, model)), source)
    if fallback_arn:
        return ModelSpec(tuple(_package_containers(sm, fallback_arn)), fallback_arn)
    raise StepError(
        f"model {model_name!r} does not exist in this account/region; create it or pass "
        "the model package ARN (--model-package-arn)"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _extract(archive: Path, target: Path, what: str) -> None:
    """A gzip-compressed tar, as ModelDataUrl must be (SageMaker API Reference,
    ContainerDefinition: "a single gzip compressed tar archive")."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise StepError(
            f"{what} is not a readable .tar.gz ({_first_line(err)}); make it with "
            "`tar -czf model.tar.gz -C <model dir> .`"
        ) from err


def download_model(s3: S3Client, container: ContainerSpec, model_dir: Path) -> None:
    """Download the container's model.tar.gz and extract it into ``model_dir`` (the local
    /opt/ml/model); a container without model data gets an empty directory, as in SageMaker."""
    model_dir.mkdir(parents=True, exist_ok=True)
    if not container.model_data_url:
        return
    uri = S3Uri.parse(container.model_data_url)
    archive = model_dir.parent / "model.tar.gz"
    try:
        s3.download_file(uri.bucket, uri.key, str(archive))
    except ClientError as err:
        raise StepError(f"cannot download model data {uri}: {_first_line(err)}") from err
    _extract(archive, model_dir, f"model data {uri}")
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
        _extract(archive, target, f"SAGEMAKER_SUBMIT_DIRECTORY {uri}")
        return target
    if value == DEFAULT_CODE_DIR:
        return target
    local = Path(value)
    if local.is_dir():
        return local
    if local.is_file():
        _extract(local, target, f"SAGEMAKER_SUBMIT_DIRECTORY {value}")
        return target
    raise StepError(f"SAGEMAKER_SUBMIT_DIRECTORY {value} is neither in the model, on S3 nor local")
