"""Run dates from one source: the definition being run; the backfill table's own rows."""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from errors import ConfigError
from pipelines import run_pipeline
from pipelines.runs import backfill, run_dates
from pipelines.steps import partitions
from tests.pipeline.conftest import FEATURES, MODEL_NAME, write_config

TODAY = datetime.date(2026, 11, 26)


@pytest.fixture(scope="module")
def lag_two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A daily stage (dt=YYYY-MM-DD) with a lag of 2 days: its file and rendered definition."""
    from pipelines.definition.pipeline import render_definition
    from promotion.config import load_stage_config

    directory = tmp_path_factory.mktemp("lag-two")
    path = write_config(directory, input_layout="dt=YYYY-MM-DD", input_lag_days=2)
    rendered = render_definition(
        config=load_stage_config(path),
        pipeline_name="lag-two",
        model_name=MODEL_NAME,
        model_package_version=1,
        feature_columns=FEATURES,
    )
    definition = directory / "definition.json"
    definition.write_text(rendered, encoding="utf-8")
    return path, definition


def _catch_up(
    definition: Path,
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
    now: datetime.datetime | None = None,
) -> tuple[int, list[str]]:
    """`run_pipeline --local --catch-up` on TODAY (or at ``now``); the dates it ran (no pipeline
    runs)."""
    ran: list[str] = []

    def runner(*_: Any) -> run_dates.RunOne:
        def run_one(date: str) -> backfill.DateRun:
            ran.append(date)
            return backfill.DateRun(date, "run", "Succeeded", "e", 1)

        return run_one

    monkeypatch.setattr(run_dates, "_local_runner", runner)
    argv = ["--local", "--definition", str(definition), "--catch-up", "--since", "2026-11-20"]
    args = run_pipeline.parse_args([*argv, *extra])
    code = run_dates.run_dates_command(
        args,
        session_factory=lambda **_: cast(boto3.Session, _Session()),
        sleep=lambda _: None,
        today=None if now else TODAY,
        now=now,
    )
    return code, sorted(ran)


class _Session:
    """An S3 that holds no result for any date."""

    def __init__(self, **_: Any) -> None:
        pass

    def client(self, name: str, **_: Any) -> Any:
        assert name == "s3"
        return _EmptyS3()


class _EmptyS3:
    def list_objects_v2(self, **_: Any) -> dict[str, Any]:
        return {}

    def get_paginator(self, _: str) -> Any:
        return self

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return [{}]


def test_the_definitions_layout_and_lag_are_read_back(lag_two: tuple[Path, Path]) -> None:
    # GIVEN a rendered daily definition  THEN its Preprocess arguments give layout and lag
    definition = json.loads(lag_two[1].read_text(encoding="utf-8"))
    assert run_dates.date_settings(definition) == ("dt=YYYY-MM-DD", 2)
    assert run_dates.date_settings({"Steps": []}) is None


def test_catch_up_without_stage_uses_the_definitions_lag_of_two(
    lag_two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a definition whose schedule scores today minus 2 days, and no --stage
    # WHEN catching up since 2026-11-20 on 2026-11-26
    code, ran = _catch_up(lag_two[1], monkeypatch)
    # THEN the last date is 2026-11-24, the one the schedule's run of today scores (not the 25th)
    assert code == 0
    assert ran == [f"2026-11-{day}" for day in range(20, 25)]


def test_catch_up_counts_today_on_the_schedules_clock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pipelines.definition.pipeline import render_definition
    from promotion.config import load_stage_config

    # GIVEN an Asia/Tokyo daily stage with lag 1, rendered
    path = write_config(tmp_path, input_layout="dt=YYYY-MM-DD", input_lag_days=1,
                        schedule_timezone="Asia/Tokyo")  # fmt: skip
    definition = tmp_path / "definition.json"
    definition.write_text(
        render_definition(
            config=load_stage_config(path),
            pipeline_name="tokyo",
            model_name=MODEL_NAME,
            model_package_version=1,
            feature_columns=FEATURES,
        ),  # fmt: skip
        encoding="utf-8",
    )
    assert run_dates.schedule_timezone(json.loads(definition.read_text())) == "Asia/Tokyo"
    # WHEN catching up at 2026-11-25T15:30Z, 00:30 on the 26th in Tokyo (its tick has fired)
    now = datetime.datetime(2026, 11, 25, 15, 30, tzinfo=datetime.timezone.utc)
    code, ran = _catch_up(definition, monkeypatch, now=now)
    # THEN the last date is the 25th, the one that tick scores (the UTC day stopped at the 24th)
    assert code == 0
    assert ran == [f"2026-11-{day}" for day in range(20, 26)]


def test_a_stage_may_confirm_the_lag(
    lag_two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the stage file the definition was built from  THEN it confirms the same dates
    config, definition = lag_two
    code, ran = _catch_up(definition, monkeypatch, "--stage", "pre-prod", "--config", str(config))
    assert code == 0 and ran[-1] == "2026-11-24"


def test_a_stage_that_contradicts_the_definition_is_refused(
    lag_two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a stage file that says lag 1 for a definition rendered with lag 2
    other = write_config(tmp_path, input_layout="dt=YYYY-MM-DD", input_lag_days=1)
    # WHEN catching up with it  THEN one ConfigError names both values and nothing runs
    with pytest.raises(ConfigError, match=r"input_lag_days 1 but .* lag 2: build and deploy"):
        _catch_up(lag_two[1], monkeypatch, "--stage", "pre-prod", "--config", str(other))


BUCKET = "rows-of-their-own"
OUTPUT = f"s3://{BUCKET}/predictions/"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _finished(s3: Any, execution: str, rows: int, *, publish: bool) -> None:
    folder = f"predictions/2026-11-02/{execution}/"
    body = io.BytesIO()
    pd.DataFrame({"id": range(rows)}).to_parquet(body)
    s3.put_object(Bucket=BUCKET, Key=folder + "part-00000.parquet", Body=body.getvalue())
    success = {"files": [{"path": "part-00000.parquet"}], "prediction_rows": rows,
               "started_at": "2026-11-02T03:00:00Z"}  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=folder + "_SUCCESS", Body=json.dumps(success))
    if publish:
        partitions.publish(s3, output_url=OUTPUT, date="2026-11-02", execution_id=execution)


def test_each_row_of_the_table_shows_its_own_executions_rows(s3: Any) -> None:
    # GIVEN 2026-11-02 published by "old" (300 rows), a forced re-run that failed before its
    # _SUCCESS, and one that finished (120 rows) but was overtaken by a later publish
    _finished(s3, "old", 300, publish=True)
    _finished(s3, "overtaken", 120, publish=False)
    # WHEN the table rows of the two re-runs are made
    failed = run_dates._finished_row("2026-11-02", "Failed", "new", s3, OUTPUT, "boom")
    late = run_dates._finished_row("2026-11-02", "Succeeded", "overtaken", s3, OUTPUT, None)
    # THEN the failed one shows no rows (not old's 300), the overtaken one its own 120
    assert (failed.status, failed.execution, failed.rows, failed.detail) == (
        "Failed",
        "new",
        None,
        "boom",
    )
    assert (late.rows, late.detail) == (120, "published is old (a later run finished last)")


def test_local_dates_run_with_the_definitions_feature_order(
    s3: Any, lag_two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a rendered definition and a local runner that records what it is given
    import pipelines.local as local

    given: list[Any] = []

    def fake_run(definition: dict[str, Any], **kwargs: Any) -> local.RunResult:
        given.append(kwargs["options"])
        return local.RunResult("x1", "Failed", [])

    monkeypatch.setattr(local, "run_definition", fake_run)
    definition = json.loads(lag_two[1].read_text(encoding="utf-8"))
    args = run_pipeline.parse_args(["--local", "--definition", str(lag_two[1])])
    session = cast(boto3.Session, boto3.Session(region_name="us-east-1"))
    # WHEN a date runs locally
    run_dates._local_runner(args, definition, session, {}, OUTPUT)("2026-11-02")
    # THEN the runner is told the features in the definition's order, to check the model's
    assert given[0].expected_features == tuple(FEATURES)
