"""Dates, input partitions, skips and publishing (partitions.py and Preprocess), in-process."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from pipelines.runs import results
from pipelines.steps import partitions, preprocess

LIB = str(Path(partitions.__file__))
BUCKET = "daily-data"
INPUT = f"s3://{BUCKET}/input/"
OUTPUT = f"s3://{BUCKET}/predictions/"


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("snapshot", INPUT),
        ("YYYY-MM-DD", f"{INPUT}2026-11-25/"),
        ("dt=YYYY-MM-DD", f"{INPUT}dt=2026-11-25/"),
        ("year=YYYY/month=MM/day=DD", f"{INPUT}year=2026/month=11/day=25/"),
    ],
)
def test_each_layout_names_one_prefix_per_date(layout: str, expected: str) -> None:
    # GIVEN a layout  WHEN asking for 2026-11-25's prefix  THEN it is the documented one
    assert partitions.partition_url(INPUT.rstrip("/"), layout, "2026-11-25") == expected


def test_run_date_wins_then_scheduled_time_minus_lag_then_start_time() -> None:
    # GIVEN a daily layout with a lag of one day
    def date(**kwargs: str) -> str:
        values = {"run_date": "", "scheduled_time": "", "start_time": "", **kwargs}
        return partitions.resolve_date(**values, lag_days=1, layout="dt=YYYY-MM-DD")

    # THEN RunDate is taken as is; the 03:00 tick scores yesterday, whenever a retry started
    assert date(run_date="2026-11-01", scheduled_time="2026-11-26T03:00:00Z") == "2026-11-01"
    tick = "2026-12-01T03:00:00Z"
    assert date(scheduled_time=tick, start_time="2026-12-02T00:10:00.000Z") == "2026-11-30"
    assert date(start_time="2026-01-01T09:00:00.000Z") == "2025-12-31"
    # AND a snapshot is labelled with its own day (no lag)
    snapshot = partitions.resolve_date(
        run_date="", scheduled_time=tick, start_time="", lag_days=1, layout="snapshot"
    )
    assert snapshot == "2026-12-01"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_date": "2026-02-30"}, "RunDate '2026-02-30' is not a calendar date"),
        ({"run_date": "26-11-01"}, "RunDate '26-11-01' must be a date like 2026-11-25"),
        ({"scheduled_time": "yesterday"}, "ScheduledTime 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_bad_dates_fail_with_one_line(kwargs: dict[str, str], message: str) -> None:
    values = {"run_date": "", "scheduled_time": "", "start_time": "", **kwargs}
    with pytest.raises(partitions.PartitionError, match=message):
        partitions.resolve_date(**values, lag_days=1, layout="YYYY-MM-DD")


def test_sharding_gives_every_key_to_exactly_one_host() -> None:
    keys = [f"part-{n:03d}.csv" for n in range(7)]
    shares = [partitions.shard(keys, host, 2) for host in range(2)]
    assert sorted(shares[0] + shares[1]) == keys and not set(shares[0]) & set(shares[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto, a bucket, and three daily partitions of 4 rows (2026-11-24 has two files)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for day in ("2026-11-23", "2026-11-24", "2026-11-25"):
            rows = pd.DataFrame(
                {"id": [f"{day}-{n}" for n in range(4)], "a": range(4), "b": range(4)}
            )
            halves = [rows[:2], rows[2:]] if day == "2026-11-24" else [rows]
            for index, part in enumerate(halves):
                key = f"input/dt={day}/part-{index}.csv"
                client.put_object(Bucket=BUCKET, Key=key, Body=part.to_csv(index=False))
        client.put_object(Bucket=BUCKET, Key="input/dt=2026-11-22/_SUCCESS", Body=b"")
        yield client


def _preprocess(tmp_path: Path, *extra: str, host: str = "algo-1", hosts: int = 1) -> int:
    root = tmp_path / host
    (root / "config").mkdir(parents=True)
    names = [f"algo-{n + 1}" for n in range(hosts)]
    config = {"current_host": host, "hosts": names}
    (root / "config/resourceconfig.json").write_text(json.dumps(config))
    return preprocess.main(
        [
            *("--input-dir", str(root / "data"), "--shards-dir", str(root / "shards")),
            *("--ids-dir", str(root / "ids"), "--feature-columns", "a,b", "--id-column", "id"),
            *("--resource-config", str(root / "config/resourceconfig.json")),
            *("--failure-file", str(root / "message")),
            *("--partitions-lib", LIB, "--input-layout", "dt=YYYY-MM-DD"),
            *("--input-url", INPUT, "--output-url", OUTPUT, "--execution-id", "exec1"),
            *("--pipeline-name", "daily", "--start-time", "2026-11-26T05:00:00.000Z"),
            *extra,
        ]
    )


def _ids(directory: Path) -> list[str]:
    return [
        i for p in sorted(directory.glob("*.parquet")) for i in pq.read_table(p)["id"].to_pylist()
    ]


def test_a_scheduled_run_scores_only_yesterdays_partition(s3: Any, tmp_path: Path) -> None:
    # GIVEN three daily partitions  WHEN the 2026-11-26 03:00 tick runs (a retry at 05:00)
    code = _preprocess(tmp_path, "--scheduled-time", "2026-11-26T03:00:00Z")
    # THEN it scores exactly 2026-11-25's rows and records the date for the later steps
    assert code == 0
    assert _ids(tmp_path / "algo-1/ids") == [f"2026-11-25-{n}" for n in range(4)]
    run = json.loads((tmp_path / "algo-1/ids/run.json").read_text())
    assert run == {
        "date": "2026-11-25",
        "input_prefix": f"{INPUT}dt=2026-11-25/",
        "layout": "dt=YYYY-MM-DD",
        "started_at": "2026-11-26T05:00:00.000Z",  # the retry's start, for --status
        "status": "scored",
    }


def test_two_instances_score_every_row_of_the_partition_once(s3: Any, tmp_path: Path) -> None:
    # GIVEN 2026-11-24 in two files  WHEN two Preprocess instances run
    for host in ("algo-1", "algo-2"):
        assert _preprocess(tmp_path, "--run-date", "2026-11-24", host=host, hosts=2) == 0
    # THEN each row goes to exactly one instance
    first, second = _ids(tmp_path / "algo-1/ids"), _ids(tmp_path / "algo-2/ids")
    assert first and second and not set(first) & set(second)
    assert sorted(first + second) == [f"2026-11-24-{n}" for n in range(4)]


def test_a_missing_partition_fails_naming_the_prefix(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a date with only a _SUCCESS marker  WHEN the stage fails on missing input
    code = _preprocess(tmp_path, "--run-date", "2026-11-22")
    # THEN the step fails with one line naming the expected prefix
    expected = (
        f"preprocess failed: no input for 2026-11-22: no data objects under {INPUT}dt=2026-11-22/"
    )
    assert code == 1
    assert capsys.readouterr().err.strip() == expected
    assert (tmp_path / "algo-1/message").read_text() == expected


def test_a_missing_partition_is_a_recorded_skip_when_the_stage_says_so(
    s3: Any, tmp_path: Path
) -> None:
    # GIVEN no partition for 2026-11-20  WHEN the stage skips missing input
    code = _preprocess(tmp_path, "--run-date", "2026-11-20", "--missing-input", "skip")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = cloudwatch.list_metrics(Namespace=partitions.METRIC_NAMESPACE)["Metrics"]
    # THEN the step succeeds, says "skipped" to the pipeline, marks the date and counts a skip
    assert code == 0
    run = json.loads((tmp_path / "algo-1/ids/run.json").read_text())
    assert run["status"] == "skipped"
    found = results.date_result(s3, output_url=OUTPUT, date="2026-11-20")
    assert (found.status, found.execution_id) == (results.SKIPPED, "exec1")
    assert [m["MetricName"] for m in metrics] == [partitions.SKIPPED_METRIC]


def _success(s3: Any, execution: str, rows: int) -> None:
    folder = f"predictions/2026-11-25/{execution}/"
    table = pd.DataFrame({"id": [f"r{n}" for n in range(rows)], "execution_id": execution})
    body = io.BytesIO()
    table.to_parquet(body, index=False)
    s3.put_object(Bucket=BUCKET, Key=folder + "part-00000.parquet", Body=body.getvalue())
    manifest = {"files": [{"path": "part-00000.parquet"}], "prediction_rows": rows,
                "started_at": f"2026-11-25T03:{len(execution):02d}:00Z"}  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=folder + "_SUCCESS", Body=json.dumps(manifest))


def test_publish_points_at_one_execution_and_keeps_the_others(s3: Any) -> None:
    # GIVEN a date that has no finished execution  THEN nothing can be published
    with pytest.raises(partitions.PartitionError, match="_SUCCESS is missing"):
        partitions.publish(s3, output_url=OUTPUT, date="2026-11-25", execution_id="first")
    # GIVEN two finished executions of the date  WHEN each publishes in turn
    _success(s3, "first", 3)
    _success(s3, "second", 3)
    partitions.publish(s3, output_url=OUTPUT, date="2026-11-25", execution_id="first")
    partitions.publish(s3, output_url=OUTPUT, date="2026-11-25", execution_id="second")
    # THEN readers see the last one's rows once, and both folders are still there
    table = results.read_predictions(s3, output_url=OUTPUT, date="2026-11-25")
    assert table.num_rows == 3 and set(table["execution_id"].to_pylist()) == {"second"}
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="predictions/2026-11-25/")["Contents"]
    ]
    assert len(keys) == 4
    found = results.date_result(s3, output_url=OUTPUT, date="2026-11-25")
    assert (found.status, found.execution_id, found.rows) == (results.PUBLISHED, "second", 3)
