"""build.py --status: which versions a stage holds, which one runs, and how its last runs went.

Read-only. The registry: sagemaker:ListModelPackageGroups, sagemaker:ListModelPackages and
sagemaker:DescribeModelPackage (the promoted versions, newest first, with their lineage). What runs:
sagemaker:DescribePipeline, sagemaker:DescribeModel and scheduler:GetSchedule (the deployed
pipeline and schedule, followed to their model package). How it ran: the last executions
(pipelines/runs/executions.py). Rendered as a terminal table, Markdown (the job summary) or JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from pipelines.definition.pipeline import pipeline_name_for
from pipelines.runs.executions import Execution, manifest_executions, sagemaker_executions
from promotion import registry
from promotion.config import StageConfig
from promotion.output import markdown_table, text_table
from promotion.package import containers

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

DEFAULT_VERSION_LIMIT = 10
DEFAULT_EXECUTION_LIMIT = 5
# batch-config-template.tf: schedule and group are named after the pipeline, or its first 45
# characters and 8 of its sha256 when longer than 54 characters.
_NAME_LIMIT, _HEAD, _DIGEST = 54, 45, 8
_NOT_FOUND = ("ResourceNotFound", "ResourceNotFoundException", "404")
VERSION_HEADERS = (
    "version", "approval", "source version", "promoted at", "commit", "image", "runs in",
)  # fmt: skip
RUN_HEADERS = ("execution", "status", "started", "duration", "run date", "rows", "output")
_Answer = TypeVar("_Answer")


@dataclass(frozen=True)
class PromotedVersion:
    """One target package of the stage and where it came from (its lineage metadata)."""

    target_arn: str
    target_version: int
    approval_status: str
    package_status: str
    created_at: str
    source_arn: str
    source_version: str
    promoted_at: str
    git_sha: str
    images: tuple[str, ...] = ()  # each container's image, as the package names it


@dataclass(frozen=True)
class Deployed:
    """What one deployed resource (the pipeline or the schedule) runs."""

    resource: str
    name: str
    found: bool
    model_name: str = ""
    model_package_arn: str = ""
    state: str = ""


@dataclass(frozen=True)
class StageStatus:
    """Everything `--status` shows for one stage."""

    stage: str
    account_id: str
    region: str
    group: str
    pipeline_name: str
    versions: list[PromotedVersion]
    deployed: list[Deployed]
    executions: list[Execution]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the same facts as the tables, with full ARNs."""
        return {
            "stage": self.stage,
            "account_id": self.account_id,
            "region": self.region,
            "model_package_group": self.group,
            "pipeline_name": self.pipeline_name,
            "versions": [asdict(version) for version in self.versions],
            "deployed": [asdict(item) for item in self.deployed],
            "executions": [asdict(execution) for execution in self.executions],
        }


def collect_status(
    config: StageConfig,
    *,
    sagemaker: Any,
    scheduler: Any,
    s3: Any,
    version_limit: int = DEFAULT_VERSION_LIMIT,
    execution_limit: int = DEFAULT_EXECUTION_LIMIT,
) -> StageStatus:
    """Ask the stage account (read-only) what it holds and runs."""
    pipeline_name = pipeline_name_for(config)
    versions = promoted_versions(
        sagemaker, group=config.model_package_group_name, limit=version_limit
    )
    pipeline = deployed_pipeline(sagemaker, pipeline_name)
    deployed = [pipeline, deployed_schedule(scheduler, sagemaker, pipeline_name)]
    executions = (
        sagemaker_executions(
            sagemaker,
            s3,
            pipeline_name=pipeline_name,
            limit=execution_limit,
            output_url=config.output_data_url,
        )  # fmt: skip
        if pipeline.found
        else []
    )
    executions += manifest_executions(
        s3, output_url=config.output_data_url, limit=execution_limit,
        known={e.execution_id for e in executions},
    )  # fmt: skip
    return StageStatus(
        stage=config.stage, account_id=config.account_id, region=config.region,
        group=config.model_package_group_name, pipeline_name=pipeline_name, versions=versions,
        deployed=deployed, executions=executions[: execution_limit * 2],
    )  # fmt: skip


# The registry: what the stage holds.


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "" if value is None else str(value)


def promoted_version(package: dict[str, Any]) -> PromotedVersion:
    """The status row of one described target package (pure)."""
    lineage = package.get("CustomerMetadataProperties") or {}
    return PromotedVersion(
        target_arn=package["ModelPackageArn"],
        target_version=int(package.get("ModelPackageVersion") or 0),
        approval_status=str(package.get("ModelApprovalStatus", "")),
        package_status=str(package.get("ModelPackageStatus", "")),
        created_at=_text(package.get("CreationTime")),
        source_arn=lineage.get(registry.LINEAGE_SOURCE_ARN, ""),
        source_version=lineage.get(registry.LINEAGE_SOURCE_VERSION, ""),
        promoted_at=_text(package.get("CreationTime")),  # the package is created at promotion
        git_sha=lineage.get(registry.LINEAGE_GIT_SHA, ""),
        images=tuple(str(container.get("Image", "")) for container in containers(package)),
    )


def promoted_versions(
    sm: SageMakerClient, *, group: str, limit: int = DEFAULT_VERSION_LIMIT
) -> list[PromotedVersion]:
    """The stage group's newest `limit` packages, newest first; empty when the group is absent."""
    if not registry.group_exists(sm, group):
        return []
    versions: list[PromotedVersion] = []
    paginator = sm.get_paginator("list_model_packages")
    pages = paginator.paginate(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            package = dict(sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"]))
            versions.append(promoted_version(package))
            if len(versions) >= limit:
                return versions
    return versions


def version_of_package(versions: list[PromotedVersion], package_arn: str) -> PromotedVersion | None:
    """The listed version whose target ARN is `package_arn` (versioned ARNs compare exactly)."""
    return next((v for v in versions if v.target_arn == package_arn), None)


# What runs: the deployed pipeline and schedule, followed to their model package.


def schedule_name_for(pipeline_name: str) -> str:
    """The schedule (and schedule group) name Terraform derives from the pipeline name."""
    if len(pipeline_name) <= _NAME_LIMIT:
        return pipeline_name
    digest = hashlib.sha256(pipeline_name.encode()).hexdigest()[:_DIGEST]
    return f"{pipeline_name[:_HEAD]}-{digest}"


def _unless_missing(call: Callable[..., _Answer], **parameters: Any) -> _Answer | None:
    """The call's answer, or None when what it reads does not exist (any other error raises)."""
    try:
        return call(**parameters)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        # DescribeModel answers a missing model with ValidationException "Could not find model".
        if code in _NOT_FOUND or (code == "ValidationException" and "not find" in message):
            return None
        raise


def model_package_of(sm: SageMakerClient, model_name: str) -> str:
    """The model package a SageMaker model was created from; empty when the model is gone."""
    model = _unless_missing(sm.describe_model, ModelName=model_name) if model_name else None
    if model is None:
        return ""
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    return next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), "")


def deployed_pipeline(sm: SageMakerClient, pipeline_name: str) -> Deployed:
    """The pipeline's ModelName default, followed to its package."""
    response = _unless_missing(sm.describe_pipeline, PipelineName=pipeline_name)
    if response is None:
        return Deployed("pipeline", pipeline_name, found=False)
    definition = json.loads(response.get("PipelineDefinition") or "{}")
    parameters = {p.get("Name"): p for p in definition.get("Parameters", [])}
    model_name = str(parameters.get("ModelName", {}).get("DefaultValue", ""))
    return Deployed(
        "pipeline", pipeline_name, found=True, model_name=model_name,
        model_package_arn=model_package_of(sm, model_name),
        state=str(response.get("PipelineStatus", "")),
    )  # fmt: skip


def schedule_model_name(target: dict[str, Any]) -> str:
    """The ModelName parameter a schedule's target starts the pipeline with: in the Input of the
    universal target Terraform deploys (StartPipelineExecution's request), or in a SageMaker
    target's SageMakerPipelineParameters."""
    try:
        request = json.loads(target.get("Input") or "{}")
    except ValueError:
        request = {}
    parameters = request.get("PipelineParameters") if isinstance(request, dict) else None
    if not isinstance(parameters, list):
        sagemaker = target.get("SageMakerPipelineParameters") or {}
        parameters = sagemaker.get("PipelineParameterList") or []
    names = (
        p.get("Value") for p in parameters if isinstance(p, dict) and p.get("Name") == "ModelName"
    )
    return str(next(names, "") or "")


def deployed_schedule(scheduler: Any, sm: SageMakerClient, pipeline_name: str) -> Deployed:
    """The schedule's ModelName parameter, followed to its package."""
    name = schedule_name_for(pipeline_name)
    schedule = _unless_missing(scheduler.get_schedule, Name=name, GroupName=name)
    if schedule is None:
        return Deployed("schedule", name, found=False)
    model_name = schedule_model_name(schedule.get("Target") or {})
    return Deployed(
        "schedule", name, found=True, model_name=model_name,
        model_package_arn=model_package_of(sm, model_name),
        state=f"{schedule.get('State', '')} {schedule.get('ScheduleExpression', '')}".strip(),
    )  # fmt: skip


# Rendering: a terminal's tables, a job summary's Markdown, JSON.


def _runs_in(status: StageStatus, version: PromotedVersion) -> str:
    return ", ".join(
        d.resource for d in status.deployed if d.model_package_arn == version.target_arn
    )


def _short_image(image: str) -> str:
    """An image as the table shows it: its digest's start, else its tag (the whole URI is in the
    Deployed lines and the JSON)."""
    name, _, digest = image.partition("@")
    if digest:
        return digest[: len("sha256:") + 12]
    return ":" + name.rsplit(":", 1)[-1] if ":" in name.rsplit("/", 1)[-1] else name


def _version_rows(status: StageStatus) -> list[tuple[str, ...]]:
    return [
        (
            str(v.target_version),
            v.approval_status,
            v.source_version + (f" ({v.source_arn})" if v.source_arn else ""),
            v.promoted_at or v.created_at,
            v.git_sha[:12] or "-",
            ", ".join(_short_image(image) for image in v.images) or "-",
            _runs_in(status, v) or "-",
        )  # fmt: skip
        for v in status.versions
    ]


def _deployed_lines(status: StageStatus) -> list[str]:
    lines = []
    for item in status.deployed:
        if not item.found:
            lines.append(f"{item.resource} {item.name}: not deployed")
            continue
        version = version_of_package(status.versions, item.model_package_arn)
        runs = (
            f"version {version.target_version} (source version {version.source_version})"
            if version
            else item.model_package_arn or "a model that no longer exists"
        )
        state = f" [{item.state}]" if item.state else ""
        images = f", image {' -> '.join(version.images)}" if version and version.images else ""
        lines.append(
            f"{item.resource} {item.name}{state}: model {item.model_name} -> {runs}{images}"
        )
    return lines


def _run_rows(status: StageStatus) -> list[tuple[str, ...]]:
    return [
        (
            e.execution_id + ("" if e.source == "sagemaker" else " (outside SageMaker)"),
            e.status,
            e.started_at or "-",
            "-" if e.duration_seconds is None else f"{e.duration_seconds:.0f} s",
            e.run_date or "-",
            "-" if e.rows is None else str(e.rows),
            e.output or "-",
        )  # fmt: skip
        for e in status.executions
    ]


def render_text(status: StageStatus) -> str:
    """The status for a terminal: aligned tables, no Markdown."""
    parts = [
        f"Status of {status.stage} (account {status.account_id}, {status.region})",
        "",
        f"Promoted versions of {status.group}, newest first:",
        text_table(VERSION_HEADERS, _version_rows(status)) if status.versions else "  none",
        "",
        "Deployed:",
        *(f"  {line}" for line in _deployed_lines(status)),
        "",
        "Last executions:",
        text_table(RUN_HEADERS, _run_rows(status)) if status.executions else "  none",
    ]
    return "\n".join(parts)


def render_markdown(status: StageStatus) -> str:
    """The status for a GitHub job summary."""
    parts = [
        f"### Status of {status.stage} (account {status.account_id}, {status.region})",
        "",
        markdown_table(VERSION_HEADERS, _version_rows(status))
        if status.versions
        else "No promoted versions.",
        "",
        *(f"- {line}" for line in _deployed_lines(status)),
        "",
        markdown_table(RUN_HEADERS, _run_rows(status)) if status.executions else "No executions.",
    ]
    return "\n".join(parts) + "\n"


def render_json(status: StageStatus) -> str:
    """The status as JSON, for scripts."""
    return json.dumps(status.as_dict(), indent=2, sort_keys=True)
