"""build.py --status: which versions a stage holds, which one runs, and how its last runs went.

Collects (read-only, see promotion/status.py and pipelines/status.py for the AWS calls) and
renders as a terminal table, Markdown (the job summary) or JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from pipelines.definition.pipeline import pipeline_name_for
from pipelines.status import (
    DEFAULT_EXECUTION_LIMIT,
    Deployed,
    Execution,
    deployed_pipeline,
    deployed_schedule,
    manifest_executions,
    sagemaker_executions,
)
from promotion.config import StageConfig
from promotion.output import markdown_table, text_table
from promotion.status import DEFAULT_VERSION_LIMIT, PromotedVersion, promoted_versions

VERSION_HEADERS = (
    "version", "approval", "source version", "promoted at", "commit", "image", "runs in",
)  # fmt: skip
RUN_HEADERS = ("execution", "status", "started", "duration", "run date", "rows", "output")


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
            "versions": [version.as_dict() for version in self.versions],
            "deployed": [asdict(item) for item in self.deployed],
            "executions": [execution.as_dict() for execution in self.executions],
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
        version = next((v for v in status.versions if v.target_arn == item.model_package_arn), None)
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
