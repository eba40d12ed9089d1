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
SymlinkTextInputFormat manifest). It is replaced in one conditional PutObject, after that
execution's files and ``_SUCCESS`` are in S3, and only by an execution that started later than
the one it names; each replacement is appended to ``<OutputDataUrl>_history/dt=D.json``.
Earlier executions' folders stay untouched.
"""

from __future__ import annotations

import datetime
import json
import re
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

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
HISTORY = "_history"
# 412: the ETag read is no longer the object's (or the key appeared); 409: a concurrent
# conditional write won; NoSuchKey: the object read was deleted before If-Match (S3 User Guide,
# "How to prevent object overwrites with conditional writes").
_LOST_RACE = frozenset(
    {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey"}
)
_ATTEMPTS = 5
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


class Publication(NamedTuple):
    """What `publish` did: the manifest, the execution it names now, and one line saying so
    (a NamedTuple: a dataclass needs its module registered, and step scripts load this by path)."""

    url: str
    authoritative: str
    line: str


def history_url(output_url: str, date: str) -> str:
    """``<output>/_history/dt=<date>.json``: every publication of a date, oldest first (outside
    ``_authoritative/``, whose every object Athena reads as a manifest)."""
    base = output_url if output_url.endswith("/") else output_url + "/"
    return f"{base}{HISTORY}/dt={date}.json"


def publish(
    s3: Any, *, output_url: str, date: str, execution_id: str, kms_key_arn: str | None = None
) -> Publication:
    """Make ``execution_id`` the authoritative result of ``date`` unless a newer one already is.

    The execution's ``_SUCCESS`` (uploaded last by Postprocess) is read back from S3 and every
    file it lists must be listed there too. Then the manifest is read: when it names an
    execution that started later (equal start: the larger id), nothing is written; else it is
    replaced in one conditional PutObject (If-Match on the ETag read, If-None-Match for the
    first), re-read and decided again when another publisher won in between (412/409), and the
    replacement is appended to the date's history. A refusal raises PartitionError and leaves
    the previous manifest as it was.
    """
    folder = run_url(output_url, date, execution_id)
    success = _verified_success(s3, folder)
    started = _started(success.get("started_at"), f"{folder}{SUCCESS_FILE}", execution_id)
    files = [str(entry["path"]) for entry in success.get("files", [])]
    lines = "".join(f"{folder}{name}\n" for name in files)
    target = manifest_url(output_url, date)
    bucket, key = split_url(target)
    for _ in range(_ATTEMPTS):
        current = _read(s3, bucket, key)
        meta, etag = current if current else ({}, "")
        theirs = meta.get("execution-id", "")
        if theirs == execution_id:  # a retry of the execution that published: finish the history
            _record(s3, history_url(output_url, date), meta, kms_key_arn)
            return Publication(target, theirs, f"{execution_id} is already authoritative of {date}")
        theirs_started = _recorded_start(meta.get("started-at", ""))
        if theirs_started is not None and (theirs_started, theirs) > (started, execution_id):
            line = (
                f"not published: {execution_id} (started {started.isoformat()}) is older than "
                f"{theirs} (started {theirs_started.isoformat()}), which stays authoritative of "
                f"{date}; {execution_id}'s files stay in {folder}"
            )
            return Publication(target, theirs, line)
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        written = {
            "execution-id": execution_id,
            "started-at": started.isoformat(),
            "published-at": now,
            "replaced": theirs,
            "replaced-started-at": meta.get("started-at", ""),
        }
        condition = {"If-Match": etag} if current else {"If-None-Match": "*"}
        try:
            _put_if(
                s3,
                condition,
                Bucket=bucket,
                Key=key,
                Body=lines.encode(),
                ContentType="text/plain",
                Metadata=written,
                **encryption(kms_key_arn),
            )
        except s3.exceptions.ClientError as error:
            if _code(error) in _LOST_RACE:
                continue  # another publisher wrote in between: read again and decide again
            raise
        _record(s3, history_url(output_url, date), written, kms_key_arn)
        replaced = f", replacing {theirs}" if theirs else ""
        return Publication(target, execution_id, f"published {target} ({execution_id}{replaced})")
    raise PartitionError(f"{target}: other publishers kept winning ({_ATTEMPTS} tries); retry")


def _verified_success(s3: Any, folder: str) -> dict[str, Any]:
    """The folder's ``_SUCCESS``, once every file it lists is listed in S3."""
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
    return dict(success)


def _started(value: Any, where: str, execution_id: str) -> datetime.datetime:
    if not isinstance(value, str) or not value.strip():
        raise PartitionError(
            f"{where} records no started_at: cannot tell whether {execution_id} is newer than "
            "the date's authoritative execution; nothing published (pass --start-time)"
        )
    return _moment(value.strip(), "started_at").astimezone(datetime.timezone.utc)


def _recorded_start(value: str) -> datetime.datetime | None:
    """The start a manifest records; None (older than any execution) for one written before
    publication was conditional, which recorded none."""
    try:
        return _moment(value, "started-at").astimezone(datetime.timezone.utc) if value else None
    except PartitionError:
        return None


def _read(s3: Any, bucket: str, key: str) -> tuple[dict[str, str], str] | None:
    """(user metadata, ETag) of an object, or None when there is none."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    response["Body"].close()
    return dict(response.get("Metadata", {})), str(response["ETag"])


def _record(s3: Any, url: str, written: dict[str, str], kms_key_arn: str | None) -> None:
    """Append one publication to the date's history, unless it is there (a retry finishing)."""
    entry = {
        "execution_id": written.get("execution-id", ""),
        "started_at": written.get("started-at", ""),
        "replaced": written.get("replaced") or None,
        "replaced_started_at": written.get("replaced-started-at") or None,
        "published_at": written.get("published-at", ""),
    }
    bucket, key = split_url(url)
    for _ in range(_ATTEMPTS):
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
            history = list(json.loads(response["Body"].read()))
            condition = {"If-Match": str(response["ETag"])}
        except s3.exceptions.NoSuchKey:
            history, condition = [], {"If-None-Match": "*"}
        same = [(e.get("execution_id"), e.get("replaced")) for e in history]
        if (entry["execution_id"], entry["replaced"]) in same:
            return
        body = json.dumps([*history, entry], indent=1).encode()
        try:
            _put_if(
                s3,
                condition,
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                **encryption(kms_key_arn),
            )
            return
        except s3.exceptions.ClientError as error:
            if _code(error) not in _LOST_RACE:
                raise
    raise PartitionError(f"{url}: other publishers kept winning ({_ATTEMPTS} tries); retry")


def _put_if(s3: Any, headers: dict[str, str], **params: Any) -> None:
    """PutObject with conditional headers set on the request: the processing image's botocore
    (< 1.32) has no IfMatch/IfNoneMatch parameters (botocore 1.35 added them), S3 reads the
    headers all the same."""

    def add(params: dict[str, Any], **_: Any) -> None:
        params["headers"].update(headers)

    s3.meta.events.register_first("before-call.s3.PutObject", add)
    try:
        s3.put_object(**params)
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", add)


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
