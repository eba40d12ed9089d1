"""A pipeline's last executions: those SageMaker lists, and runs it does not list (local runs, or
older ones) found by their ``_SUCCESS`` manifests, each with the rows and output folder its
manifest records.

Read-only. AWS calls: sagemaker:ListPipelineExecutions, sagemaker:DescribePipelineExecution,
sagemaker:ListPipelineParametersForExecution, s3:ListBucket and s3:GetObject on the output prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipelines.steps.postprocess import SUCCESS_FILE
from promotion.config import parse_s3_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

_NO_SUCH_KEY = ("NoSuchKey", "404")


@dataclass(frozen=True)
class Execution:
    """One pipeline run, from SageMaker and/or its ``_SUCCESS`` manifest."""

    execution_id: str
    status: str
    started_at: str
    duration_seconds: float | None
    run_date: str
    rows: int | None
    output: str
    source: str  # "sagemaker" or "manifest" (a run SageMaker does not list, such as a local run)


def read_manifest(s3: S3Client, url: str) -> dict[str, Any] | None:
    """The JSON ``_SUCCESS`` manifest at `url`, or None when there is none."""
    bucket, key = parse_s3_url(url)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _NO_SUCH_KEY:
            raise
        return None
    manifest: dict[str, Any] = json.loads(body)
    return manifest


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def sagemaker_executions(
    sm: SageMakerClient, s3: S3Client, *, pipeline_name: str, limit: int, output_url: str = ""
) -> list[Execution]:
    """The newest `limit` executions SageMaker lists, each with its manifest when written (below
    its OutputDataUrl, else `output_url`, the stage's: the definition's default)."""
    summaries = sm.list_pipeline_executions(
        PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
    ).get("PipelineExecutionSummaries", [])
    executions = []
    for summary in summaries:
        arn = summary["PipelineExecutionArn"]
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        status = described["PipelineExecutionStatus"]
        started = _utc(described["CreationTime"])
        ended = _utc(described.get("LastModifiedTime") or described["CreationTime"])
        parameters = {
            p["Name"]: p["Value"]
            for p in sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn).get(
                "PipelineParameters", []
            )
        }
        execution_id = arn.rsplit("/", 1)[-1]
        run_date = parameters.get("RunDate") or started.date().isoformat()
        output = parameters.get("OutputDataUrl") or output_url
        folder = f"{output.rstrip('/')}/{run_date}/{execution_id}/" if output else ""
        manifest = read_manifest(s3, folder + SUCCESS_FILE) if folder else None
        executions.append(
            Execution(
                execution_id=execution_id,
                status=status,
                started_at=started.isoformat(timespec="seconds"),
                duration_seconds=(ended - started).total_seconds()
                if status in ("Succeeded", "Failed", "Stopped")
                else None,
                run_date=run_date,
                rows=_rows(manifest),
                output=folder if manifest else "",
                source="sagemaker",
            )  # fmt: skip
        )
    return executions


def _rows(manifest: dict[str, Any] | None) -> int | None:
    return None if manifest is None else int(manifest.get("prediction_rows", 0))


def manifest_executions(
    s3: S3Client, *, output_url: str, limit: int, known: set[str]
) -> list[Execution]:
    """Runs with a ``_SUCCESS`` manifest under `output_url` that SageMaker does not list (local
    runs, or runs older than the listed ones), newest run date first."""
    bucket, prefix = parse_s3_url(output_url)
    prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    dates = _folders(s3, bucket, prefix)
    found: list[Execution] = []
    for date_prefix in sorted(dates, reverse=True):
        for run_prefix in sorted(_folders(s3, bucket, date_prefix)):
            execution_id = run_prefix.rstrip("/").rsplit("/", 1)[-1]
            if execution_id in known:
                continue
            manifest = read_manifest(s3, f"s3://{bucket}/{run_prefix}{SUCCESS_FILE}")
            if manifest is None:
                continue
            started, duration = _manifest_times(manifest)
            found.append(
                Execution(
                    execution_id=execution_id,
                    status="Succeeded",
                    started_at=started,
                    duration_seconds=duration,
                    run_date=str(manifest.get("run_date", "")),
                    rows=_rows(manifest),
                    output=f"s3://{bucket}/{run_prefix}",
                    source="manifest",
                )  # fmt: skip
            )
            if len(found) >= limit:
                return found
    return found


def _manifest_times(manifest: dict[str, Any]) -> tuple[str, float | None]:
    """The run's start and duration from its manifest ("" and None when it does not say)."""
    try:
        started = _utc(datetime.fromisoformat(str(manifest["started_at"]).replace("Z", "+00:00")))
        finished = _utc(datetime.fromisoformat(str(manifest["finished_at"])))
    except (KeyError, TypeError, ValueError):
        return "", None
    return started.isoformat(timespec="seconds"), max(0.0, (finished - started).total_seconds())


def _folders(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    folders: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return folders
