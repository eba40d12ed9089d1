"""Backfill and catch-up: the dates, the plan, and the cloud path against a fake SageMaker."""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from errors import ConfigError
from pipelines import run_pipeline
from pipelines.runs import backfill
from pipelines.runs.results import MISSING, PUBLISHED, SKIPPED, DateResult
from pipelines.steps import partitions
from tests.pipeline.conftest import BASE_CONFIG, write_config

PIPELINE = "breast-cancer-classifier-pre-prod-batch-inference"
OUTPUT = str(BASE_CONFIG["output_data_url"])


def test_dates_of_a_backfill_and_a_catch_up() -> None:
    assert backfill.backfill_dates("2026-11-30:2026-12-02") == [
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
    ]
    today = datetime.date(2026, 11, 26)
    assert backfill.catch_up_dates("2026-11-23", today=today, lag_days=1) == [
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2026-11-01", "is not FIRST:LAST"),
        ("2026-11-07:2026-11-01", "ends before it starts"),
        ("2026-11-01:2026-13-01", "is not a date"),
        ("2020-01-01:2026-01-01", "at most 366"),
    ],
)
def test_bad_ranges_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backfill.backfill_dates(spec)


def test_plan_skips_published_dates_unless_forced() -> None:
    dates = ["2026-11-01", "2026-11-02", "2026-11-03"]
    existing = {
        "2026-11-01": DateResult("2026-11-01", PUBLISHED, "e1"),
        "2026-11-02": DateResult("2026-11-02", SKIPPED, "e2"),
        "2026-11-03": DateResult("2026-11-03", MISSING),
    }
    assert backfill.plan(dates, existing, force=False) == ["2026-11-02", "2026-11-03"]
    assert backfill.plan(dates, existing, force=True) == dates


@pytest.mark.parametrize(
    "extra",
    [["--catch-up"], ["--since", "2026-11-01"], ["--backfill", "a:b", "--max-parallel", "0"]],
)
def test_flags_that_do_not_go_together_exit_2(extra: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        run_pipeline.parse_args(["--stage", "pre-prod", *extra])
    assert raised.value.code == 2


class FakeSageMaker:
    """Starts executions that succeed after a moment; records parameters and concurrency."""

    def __init__(self) -> None:
        self.started: list[dict[str, str]] = []
        self.running = 0
        self.most_running = 0
        self.lock = threading.Lock()

    def describe_pipeline(self, **_: Any) -> dict[str, Any]:
        return {"PipelineDefinition": '{"Parameters": [{"Name": "RunDate"}]}'}

    def start_pipeline_execution(self, **kwargs: Any) -> dict[str, Any]:
        assert 32 <= len(kwargs["ClientRequestToken"]) <= 128
        with self.lock:
            values = {p["Name"]: p["Value"] for p in kwargs["PipelineParameters"]}
            self.started.append(values)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            index = len(self.started)
        return {
            "PipelineExecutionArn": f"arn:aws:sagemaker:eu-west-1:1:pipeline/p/execution/e{index}"
        }

    def describe_pipeline_execution(self, **_: Any) -> dict[str, Any]:
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return {"PipelineExecutionStatus": "Succeeded"}


class FakeSession:
    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def __call__(self, **_: Any) -> Any:
        return self

    def client(self, name: str, **_: Any) -> Any:
        return self.clients[name]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=partitions.split_url(OUTPUT)[0])
        yield client


def test_cloud_backfill_runs_dates_without_result_at_most_n_at_once(
    tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN 2026-11-02 already published, and a deployed pipeline
    bucket, key = partitions.split_url(partitions.manifest_url(OUTPUT, "2026-11-02"))
    s3.put_object(Bucket=bucket, Key=key, Body=f"{OUTPUT}2026-11-02/old/part-00000.parquet\n")
    sagemaker = FakeSageMaker()
    sts = boto3.client("sts", region_name="eu-west-1")
    with Stubber(sts) as stub:
        stub.add_response(
            "get_caller_identity",
            {
                "Account": "222222222222",
                "Arn": "arn:aws:sts::222222222222:assumed-role/deployer/ci",
            },
        )
        session = FakeSession({"sagemaker": sagemaker, "s3": s3, "sts": sts})
        # WHEN backfilling four dates with at most two executions at once
        code = run_pipeline.main(
            ["--stage", "pre-prod", "--config", str(write_config(tmp_path)),
             "--backfill", "2026-11-01:2026-11-04", "--max-parallel", "2"],
            session_factory=session,
            sleep=lambda _: None,
        )  # fmt: skip
    out = capsys.readouterr().out
    # THEN the three other dates started once each with their RunDate, never more than two at once
    assert code == 0
    started = sorted(values["RunDate"] for values in sagemaker.started)
    assert started == ["2026-11-01", "2026-11-03", "2026-11-04"]
    assert 1 <= sagemaker.most_running <= 2
    # AND the per-date table shows the published date left alone
    lines = out.splitlines()
    assert lines[0] == "4 date(s), 3 to run, at most 2 at once"
    assert lines[1].split() == ["date", "action", "status", "rows", "execution", "detail"]
    assert lines[3].split()[:4] == ["2026-11-02", "exists", "published", "old"]
    assert [line.split()[2] for line in lines[2:]] == ["Succeeded", "published"] + ["Succeeded"] * 2
