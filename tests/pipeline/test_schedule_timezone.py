"""The date a scheduled run scores when the schedule fires on another clock than UTC.

EventBridge Scheduler gives `<aws.scheduler.scheduled-time>` in UTC (`2022-03-22T18:59:43Z`,
EventBridge Scheduler user guide, "Adding context attributes"), while the schedule's
`ScheduleExpressionTimezone` decides when the cron fires: the tick's date is its date on the
schedule's clock.
"""

from __future__ import annotations

import datetime
import json
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from pipelines.steps import partitions
from tests.pipeline.test_partitions import _ids, _preprocess, s3  # noqa: F401


def _tick(zone: str, day: datetime.date) -> str:
    """The UTC scheduled-time of `cron(30 0 * * ? *)` firing on ``day`` in ``zone``."""
    local = datetime.datetime.combine(day, datetime.time(0, 30), zoneinfo.ZoneInfo(zone))
    return local.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scored(tick: str, zone: str, lag: int = 1, layout: str = "dt=YYYY-MM-DD") -> str:
    return partitions.resolve_date(
        run_date="", scheduled_time=tick, start_time="", lag_days=lag, layout=layout,
        timezone=zone,
    )  # fmt: skip


@pytest.mark.parametrize("zone", ["Europe/London", "Asia/Tokyo", "America/New_York"])
def test_each_daily_tick_scores_the_day_before_on_the_schedules_clock(zone: str) -> None:
    # GIVEN cron(30 0 * * ? *) in a zone, through October 2026 (London leaves summer time 25 Oct)
    days = [datetime.date(2026, 10, 1) + datetime.timedelta(days=n) for n in range(31)]
    # WHEN each day's tick (in UTC, as the scheduler gives it) resolves with lag 1
    scored = [_scored(_tick(zone, day), zone) for day in days]
    # THEN every run scores its local day minus one: no date skipped, none twice
    assert scored == [(day - datetime.timedelta(days=1)).isoformat() for day in days]


def test_the_london_autumn_change_no_longer_skips_a_date() -> None:
    # GIVEN the reproduced case: the 25 and 26 October 2026 ticks of 00:30 Europe/London
    assert _tick("Europe/London", datetime.date(2026, 10, 25)) == "2026-10-24T23:30:00Z"
    # THEN they score 24 and 25 October (the UTC date gave 23 and 25: 24 never scored)
    assert _scored("2026-10-24T23:30:00Z", "Europe/London") == "2026-10-24"
    assert _scored("2026-10-26T00:30:00Z", "Europe/London") == "2026-10-25"
    # AND a snapshot is labelled with the local day it ran, a manual start likewise
    assert _scored("2026-10-24T23:30:00Z", "Europe/London", layout="snapshot") == "2026-10-25"
    manual = partitions.resolve_date(
        run_date="", scheduled_time="", start_time="2026-11-25T15:30:00.123Z", lag_days=1,
        layout="YYYY-MM-DD", timezone="Asia/Tokyo",
    )  # fmt: skip
    assert manual == "2026-11-25"


@pytest.mark.parametrize(
    "tick",
    ["2026-11-26T03:00:00Z", "2026-11-26T00:00:00Z", "2026-11-26T23:59:59Z",
     "2026-11-26T23:59:59.999Z", "2026-03-29T01:30:00Z", "2026-11-26T12:00"],
)  # fmt: skip
def test_utc_stages_keep_the_utc_date(tick: str) -> None:
    # GIVEN a UTC schedule  THEN the date is the tick's UTC date minus the lag, as before
    yesterday = datetime.date.fromisoformat(tick[:10]) - datetime.timedelta(days=1)
    assert _scored(tick, "UTC") == yesterday.isoformat()
    assert _scored(tick, "UTC", lag=0) == tick[:10]


def test_a_zone_the_image_cannot_resolve_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an image without a time zone database (ZoneInfo finds nothing)
    def no_database(name: str) -> Any:
        raise zoneinfo.ZoneInfoNotFoundError(f"No time zone found with key {name}")

    monkeypatch.setattr(partitions.zoneinfo, "ZoneInfo", no_database)
    # THEN a London stage fails naming the zone, rather than guessing UTC
    with pytest.raises(partitions.PartitionError) as error:
        _scored("2026-10-24T23:30:00Z", "Europe/London")
    assert "schedule time zone 'Europe/London' is not in this image's time zone database" in str(
        error.value
    )
    assert "\n" not in str(error.value)
    # AND a UTC stage needs no database
    assert _scored("2026-10-24T23:30:00Z", "UTC") == "2026-10-23"


def test_preprocess_scores_the_tokyo_tick_of_the_26th_as_the_25th(
    s3: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    # GIVEN daily partitions WHEN the 26 Nov 00:30 Asia/Tokyo tick (15:30 UTC on the 25th) runs
    code = _preprocess(
        tmp_path,
        *("--scheduled-time", "2026-11-25T15:30:00Z", "--schedule-timezone", "Asia/Tokyo"),
    )
    # THEN it scores 2026-11-25 (the UTC date gave 2026-11-24: T-2)
    assert code == 0
    assert json.loads((tmp_path / "algo-1/ids/run.json").read_text())["date"] == "2026-11-25"
    assert _ids(tmp_path / "algo-1/ids") == [f"2026-11-25-{n}" for n in range(4)]


def test_preprocess_refuses_an_input_url_without_a_trailing_slash(
    s3: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    # GIVEN InputDataUrl overridden at run time without its '/' (S3 would match input-archive/)
    code = _preprocess(tmp_path, "--input-url", "s3://daily-data/input")
    # THEN the step fails in one line naming the parameter and the fix, and writes nothing
    message = (tmp_path / "algo-1/message").read_text()
    assert code == 1
    assert message.startswith("preprocess failed: InputDataUrl 's3://daily-data/input' must end")
    assert "pass s3://daily-data/input/" in message and "\n" not in message
    assert not list((tmp_path / "algo-1/shards").glob("*"))
