"""The daily demo end to end (as the demo's phase): three partitions backfilled, a date re-run,
a catch-up with a skip."""

from __future__ import annotations

import argparse
import datetime
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo import daily as daily_module
from demo import story as story_module
from demo.daily import DAYS, DailyResult, backfill, run_daily_demo
from demo.story import Story, backfill_daily
from pipelines.runs import results
from pipelines.runs.run_dates import run_dates_command
from promotion.config import parse_s3_url
from testbed.local_aws import local_aws
from testbed.seed import ID_COLUMN


@pytest.fixture
def local_endpoint() -> Iterator[str]:
    """The three-account local AWS, emptied afterwards: moto's state outlives its server within
    this process, and other tests must not find these buckets and packages."""
    with local_aws() as endpoint:
        try:
            yield endpoint
        finally:
            reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset).close()


def test_backfill_rerun_and_catch_up_keep_one_result_per_date(
    local_endpoint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN three daily partitions  WHEN the demo's daily phase backfills them locally
    done: list[DailyResult] = []

    def recorded(*args: Any, **kwargs: Any) -> DailyResult:
        done.append(run_daily_demo(*args, **kwargs))
        return done[-1]

    monkeypatch.setattr(daily_module, "run_daily_demo", recorded)
    monkeypatch.setattr(story_module, "DAILY_ROWS", 40)
    story = Story(rows=40, output_dir=tmp_path)
    backfill_daily(story)
    (run,) = done
    stage = run.stage
    # THEN the phase tells the summary that every date was published, and with how many rows
    assert story.succeeded
    assert dict(story.facts)["daily backfill"] == (
        f"3 of 3 dates published ({DAYS[0]} to {DAYS[-1]}), 40/40/40 rows"
    )
    assert stage.definition_path == tmp_path / "daily" / "pipeline-definition.json"
    s3 = stage.session.client("s3")
    output = stage.config.output_data_url
    # ... and every date is published with exactly its own input rows, each once
    assert run.exit_code == 0
    assert sorted(run.predictions) == list(DAYS)
    for day in DAYS:
        ids = run.predictions[day][ID_COLUMN]
        assert sorted(ids) == sorted(run.inputs[day][ID_COLUMN]) and ids.is_unique
    first_run = results.date_result(s3, output_url=output, date=DAYS[1]).execution_id

    # WHEN 2026-11-02 is backfilled again: skipped without --force, re-run with it
    assert backfill(stage, DAYS[1], DAYS[1]) == 0
    assert "exists" in capsys.readouterr().out
    assert backfill(stage, DAYS[1], DAYS[1], "--force", "--parameter",
                    "ProcessingInstanceCount=2") == 0  # fmt: skip
    # THEN readers see the re-run's rows once; the first run's files stay for audit
    again = results.date_result(s3, output_url=output, date=DAYS[1])
    assert again.execution_id != first_run and again.rows == 40
    table = results.read_predictions(s3, output_url=output, date=DAYS[1]).to_pandas()
    assert len(table) == 40 and table[ID_COLUMN].is_unique
    assert set(table["execution_id"]) == {again.execution_id}
    bucket, prefix = parse_s3_url(results.partitions.date_url(output, DAYS[1]))
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert {item["Key"].split("/")[-2] for item in listed} == {first_run, again.execution_id}

    # WHEN catching up since 2026-11-01 on 2026-11-05 (lag 1: up to 2026-11-04, no input)
    args = argparse.Namespace(
        parameter=[], stage=None, config=None, backfill=None, catch_up=True,
        since=DAYS[0], local=True, definition=stage.definition_path,
        model_package_arn=stage.package_arn, max_parallel=2, force=False,
    )  # fmt: skip
    capsys.readouterr()
    code = run_dates_command(
        args,
        session_factory=lambda **_: stage.session,
        sleep=lambda _: None,
        today=datetime.date(2026, 11, 5),
    )
    table_text = capsys.readouterr().out
    # THEN only the date without a result ran, and it ended as a recorded skip
    assert code == 0
    assert "4 date(s), 1 to run" in table_text
    rows = {line.split()[0]: line.split()[1:3] for line in table_text.splitlines()[2:]}
    assert rows["2026-11-04"] == ["run", "Skipped"]
    assert all(rows[day] == ["exists", "published"] for day in DAYS)
