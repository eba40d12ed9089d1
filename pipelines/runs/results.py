"""Read the authoritative predictions of a date, and what happened to each date.

The one documented way to read "the predictions for date D" (docs/schedules.md): the manifest
``<OutputDataUrl>_authoritative/dt=D/symlink.txt`` lists the Parquet files of the ONE
execution that counts; `read_predictions` reads exactly those. Earlier executions of D keep their
folders (``<OutputDataUrl><D>/<execution id>/``) for audit, and nobody reads them by accident.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.steps import partitions

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PUBLISHED, SKIPPED, MISSING = "published", "skipped", "missing"


@dataclass(frozen=True)
class DateResult:
    """What the output prefix says about one date.

    Attributes:
        date: YYYY-MM-DD.
        status: ``published`` (an authoritative result exists), ``skipped`` (a run found no
            input and recorded a skip, and nothing is published) or ``missing``.
        execution_id: the authoritative (or skipping) execution, when known.
        files: the authoritative Parquet files (``s3://`` URIs).
        rows: prediction rows of the authoritative execution (its ``_SUCCESS``).
    """

    date: str
    status: str
    execution_id: str | None = None
    files: tuple[str, ...] = ()
    rows: int | None = None


def _read(s3: S3Client, url: str) -> bytes | None:
    bucket, key = partitions.split_url(url)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    if not any(item.get("Key") == key for item in listing.get("Contents", [])):
        return None
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def date_result(s3: S3Client, *, output_url: str, date: str) -> DateResult:
    """The state of ``date`` under ``output_url`` (two List calls at most, one Get)."""
    manifest = _read(s3, partitions.manifest_url(output_url, date))
    if manifest is not None:
        files = tuple(line for line in manifest.decode().splitlines() if line.strip())
        execution = files[0].rsplit("/", 2)[-2] if files else None
        rows = execution_rows(s3, output_url=output_url, date=date, execution_id=execution)
        return DateResult(date, PUBLISHED, execution, files, rows)
    bucket, prefix = partitions.split_url(partitions.date_url(output_url, date))
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/" + partitions.SKIPPED_FILE):
                return DateResult(date, SKIPPED, item["Key"].split("/")[-2])
    return DateResult(date, MISSING)


def execution_rows(
    s3: S3Client, *, output_url: str, date: str, execution_id: str | None
) -> int | None:
    """Prediction rows one execution of ``date`` wrote (its ``_SUCCESS``), or None."""
    if not execution_id:
        return None
    success = _read(s3, partitions.run_url(output_url, date, execution_id) + "_SUCCESS")
    return int(json.loads(success)["prediction_rows"]) if success else None


def read_predictions(s3: S3Client, *, output_url: str, date: str) -> pa.Table:
    """The authoritative predictions of ``date``: each input row once, however often D ran.

    Raises:
        LookupError: no execution of ``date`` has been published.
    """
    result = date_result(s3, output_url=output_url, date=date)
    if result.status != PUBLISHED:
        where = partitions.manifest_url(output_url, date)
        raise LookupError(f"no authoritative result for {date} ({result.status}): {where}")
    tables = []
    for uri in result.files:
        bucket, key = partitions.split_url(uri)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        tables.append(pq.read_table(io.BytesIO(body)))
    return pa.concat_tables(tables) if tables else pa.table({})
