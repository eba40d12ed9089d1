"""Dates, input partitions and authoritative results of scheduled runs (a library the step
scripts load by path; it imports nothing from this repository).

Preprocess loads this file to decide which date a run scores and, for a daily layout, to fetch
exactly that date's partition. Postprocess loads it to make its execution the authoritative
result of its date (`publish`), after it has put that execution's files and ``_SUCCESS`` in S3.
Runs in the scikit-learn processing image (Python 3.10, boto3, pyarrow) and locally.

Layouts of ``InputDataUrl``:
    snapshot                      the whole prefix (upstream replaces it)
    YYYY-MM-DD                    <InputDataUrl>2026-11-25/
    dt=YYYY-MM-DD                 <InputDataUrl>dt=2026-11-25/
    year=YYYY/month=MM/day=DD     <InputDataUrl>year=2026/month=11/day=25/

Authoritative result of date D: ``<OutputDataUrl>_authoritative/dt=D/symlink.txt``, a text
file listing the ``s3://`` URIs of the Parquet files of ONE execution (Athena's
SymlinkTextInputFormat manifest). It is replaced in one PutObject, after that execution's
files and ``_SUCCESS`` are in S3; earlier executions' folders stay untouched.
"""

from __future__ import annotations

import datetime
import json
import re
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LAYOUTS = {
    "snapshot": "",
    "YYYY-MM-DD": "{date}/",
    "dt=YYYY-MM-DD": "dt={date}/",
    "year=YYYY/month=MM/day=DD": "year={year}/month={month}/day={day}/",
}
MISSING_INPUT = ("fail", "skip")
AUTHORITATIVE = "_authoritative"
MANIFEST = "symlink.txt"
SUCCESS_FILE = "_SUCCESS"
SKIPPED_FILE = "_SKIPPED"
METRIC_NAMESPACE = "BatchInference"
SKIPPED_METRIC = "InputSkipped"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A time as ScheduledTime and SageMaker's start time give it: 2026-11-26T03:00:00Z, .000Z.
_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|z|[+-]\d{2}:\d{2})?$"
)


class PartitionError(Exception):
    """The run's date or input cannot be used; the message is one line."""


def resolve_date(
    *,
    run_date: str,
    scheduled_time: str,
    start_time: str,
    lag_days: int,
    layout: str,
    timezone: str = "UTC",
) -> str:
    """The date a run scores (YYYY-MM-DD).

    ``run_date`` when given; else the date, in the schedule's ``timezone``, of
    ``scheduled_time`` (the schedule's tick, the same for every retry) or, for a manual start,
    of ``start_time``, minus ``lag_days``. Both times come in UTC (EventBridge Scheduler's
    ``<aws.scheduler.scheduled-time>``, SageMaker's start time) while the schedule fires on the
    zone's clock: the tick of 00:30 in Europe/London is 23:30 UTC the day before in summer.
    The lag applies to daily layouts only: a snapshot is labelled with the day it was scored.
    """
    if run_date.strip():
        value = run_date.strip()
        if not _DATE.match(value):
            raise PartitionError(f"RunDate {value!r} must be a date like 2026-11-25")
        return _date(value, "RunDate").isoformat()
    for name, value in (("ScheduledTime", scheduled_time), ("start time", start_time)):
        if value.strip():
            day = _moment(value.strip(), name).astimezone(schedule_zone(timezone)).date()
            lag = lag_days if layout != "snapshot" else 0
            return (day - datetime.timedelta(days=lag)).isoformat()
    raise PartitionError("no RunDate, ScheduledTime or start time to take the date from")


def schedule_zone(name: str) -> datetime.tzinfo:
    """The schedule's IANA time zone; UTC needs no time zone database."""
    if name in ("UTC", "Etc/UTC"):
        return datetime.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise PartitionError(
            f"schedule time zone {name!r} is not in this image's time zone database: "
            "use a zone it knows (IANA name) or an image with tzdata"
        ) from error


def _moment(value: str, name: str) -> datetime.datetime:
    """An ISO 8601 time; without an offset it is UTC (Python 3.10 reads no ``Z`` itself)."""
    match = _TIME.match(value)
    if not match:
        raise PartitionError(f"{name} {value!r} is not an ISO 8601 time")
    day, clock, offset = match.groups()
    _date(day, name)
    offset = "+00:00" if offset in (None, "Z", "z") else offset
    try:
        return datetime.datetime.fromisoformat(f"{day}T{clock}{offset}")
    except ValueError as error:
        raise PartitionError(f"{name} {value!r} is not an ISO 8601 time") from error


def _date(value: str, name: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as error:
        raise PartitionError(f"{name} {value!r} is not a calendar date") from error


def partition_url(input_url: str, layout: str, date: str) -> str:
    """The prefix a run of ``date`` scores: ``input_url`` itself for a snapshot."""
    if layout not in LAYOUTS:
        raise PartitionError(f"input layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    base = input_url if input_url.endswith("/") else input_url + "/"
    year, month, day = date.split("-")
    return base + LAYOUTS[layout].format(date=date, year=year, month=month, day=day)


def manifest_url(output_url: str, date: str) -> str:
    """``<output>/_authoritative/dt=<date>/symlink.txt``: the authoritative result of a date."""
    base = output_url if output_url.endswith("/") else output_url + "/"
    return f"{base}{AUTHORITATIVE}/dt={date}/{MANIFEST}"


def date_url(output_url: str, date: str) -> str:
    """``<output>/<date>/``: every execution of a date writes below it."""
    base = output_url if output_url.endswith("/") else output_url + "/"
    return f"{base}{date}/"


def run_url(output_url: str, date: str, execution_id: str) -> str:
    """``<output>/<date>/<execution id>/``: where one execution writes (never overwritten)."""
    return f"{date_url(output_url, date)}{execution_id}/"


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    if not url.startswith("s3://"):
        raise PartitionError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def is_data_key(relative: str) -> bool:
    """Whether an object is data: no part of its relative name starts with ``_`` or ``.``."""
    return bool(relative) and not any(part[:1] in "_." for part in relative.split("/"))


def list_partition(s3: Any, url: str) -> list[tuple[str, int]]:
    """(relative key, size) of every data object under ``url``, sorted by key."""
    bucket, prefix = split_url(url)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if is_data_key(relative) and not relative.endswith("/"):
                found.append((relative, int(item["Size"])))
    return sorted(found)


def shard(keys: Sequence[str], host_index: int, hosts: int) -> list[str]:
    """This host's share of ``keys`` (every key goes to exactly one host), like ShardedByS3Key."""
    return [key for index, key in enumerate(sorted(keys)) if index % hosts == host_index]


def download(s3: Any, url: str, relative_keys: Sequence[str], target: Path) -> None:
    """Download ``url + key`` to ``target / key`` for each relative key."""
    bucket, prefix = split_url(url)
    for relative in relative_keys:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, prefix + relative, str(path))


def encryption(kms_key_arn: str | None) -> dict[str, str]:
    """PutObject arguments: SSE-KMS with the stage's key when set, else the bucket default."""
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn} if kms_key_arn else {}


def record_skip(
    s3: Any,
    cloudwatch: Any,
    *,
    output_url: str,
    date: str,
    execution_id: str,
    expected: str,
    pipeline_name: str,
    kms_key_arn: str | None = None,
) -> str:
    """Write ``<output>/<date>/<execution>/_SKIPPED`` and count one ``InputSkipped``."""
    url = run_url(output_url, date, execution_id) + SKIPPED_FILE
    bucket, key = split_url(url)
    body = {
        "status": "SKIPPED",
        "run_date": date,
        "execution_id": execution_id,
        "expected_prefix": expected,
        "reason": "no data objects",
    }
    data = json.dumps(body, sort_keys=True).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=data, **encryption(kms_key_arn))
    cloudwatch.put_metric_data(
        Namespace=METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": SKIPPED_METRIC,
                "Value": 1.0,
                "Unit": "Count",
                "Dimensions": [{"Name": "PipelineName", "Value": pipeline_name}],
            }
        ],
    )
    return url


def publish(
    s3: Any, *, output_url: str, date: str, execution_id: str, kms_key_arn: str | None = None
) -> str:
    """Make ``execution_id`` the authoritative result of ``date``; return the manifest URL.

    The execution's ``_SUCCESS`` (uploaded last by Postprocess) is read back from S3 and every
    file it lists must be listed there too; only then is the manifest replaced, in one
    PutObject. A refusal raises PartitionError and leaves the previous manifest as it was.
    """
    folder = run_url(output_url, date, execution_id)
    bucket, prefix = split_url(folder)
    try:
        success = json.loads(s3.get_object(Bucket=bucket, Key=prefix + SUCCESS_FILE)["Body"].read())
    except s3.exceptions.NoSuchKey as error:
        raise PartitionError(f"{folder}{SUCCESS_FILE} is missing; nothing to publish") from error
    present: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        present.update(item["Key"][len(prefix) :] for item in page.get("Contents", []))
    files = [str(entry["path"]) for entry in success.get("files", [])]
    missing = [name for name in files if name not in present]
    if missing or not files:
        named = ", ".join(missing[:3]) or "none"
        raise PartitionError(f"{folder}: listed file(s) missing ({named}); nothing published")
    lines = "".join(f"{folder}{name}\n" for name in files)
    target = manifest_url(output_url, date)
    target_bucket, target_key = split_url(target)
    s3.put_object(
        Bucket=target_bucket,
        Key=target_key,
        Body=lines.encode(),
        ContentType="text/plain",
        Metadata={"execution-id": execution_id},
        **encryption(kms_key_arn),
    )
    return target
