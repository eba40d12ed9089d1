"""Backfill and catch-up: one execution per date, bounded parallelism, a per-date table.

Decide (pure): which dates to run (`plan`). Act: `run_dates` calls one function per date on at
most ``max_parallel`` threads; run_pipeline.py supplies that function for SageMaker (start,
wait) or for the local runner. A date that already has an authoritative result is skipped
unless ``force``; a date whose run recorded a skip (no input) counts as without result.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from errors import ConfigError
from pipelines.runs.results import MISSING, PUBLISHED, SKIPPED, DateResult

MAX_DATES = 366


@dataclass(frozen=True)
class DateRun:
    """One row of the per-date table."""

    date: str
    action: str  # "run" or "exists"
    status: str  # Succeeded, Failed, Stopped, TimedOut, Skipped(no input), or the existing state
    execution: str = ""
    rows: int | None = None
    detail: str = ""


def parse_date(value: str, what: str) -> datetime.date:
    """A YYYY-MM-DD date, or ConfigError naming the flag."""
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as error:
        raise ConfigError(f"{what} {value!r} is not a date like 2026-11-01") from error


def backfill_dates(spec: str) -> list[str]:
    """``2026-11-01:2026-11-07`` (both ends included) as a list of dates."""
    start, sep, end = spec.partition(":")
    if not sep:
        raise ConfigError(f"--backfill {spec!r} is not FIRST:LAST (e.g. 2026-11-01:2026-11-07)")
    return date_range(parse_date(start, "--backfill"), parse_date(end, "--backfill"))


def catch_up_dates(since: str, *, today: datetime.date, lag_days: int) -> list[str]:
    """From ``since`` to the date the schedule's run of ``today`` scores (today minus lag)."""
    return date_range(parse_date(since, "--since"), today - datetime.timedelta(days=lag_days))


def date_range(first: datetime.date, last: datetime.date) -> list[str]:
    """Every date from ``first`` to ``last``; refuses reversed or over-long ranges."""
    if last < first:
        raise ConfigError(f"date range {first}:{last} ends before it starts")
    days = (last - first).days + 1
    if days > MAX_DATES:
        raise ConfigError(f"date range {first}:{last} has {days} dates; at most {MAX_DATES}")
    return [(first + datetime.timedelta(days=n)).isoformat() for n in range(days)]


def plan(dates: Iterable[str], existing: dict[str, DateResult], *, force: bool) -> list[str]:
    """The dates to run: those without a published result, or all of them with ``force``."""
    return [d for d in dates if force or existing[d].status in (MISSING, SKIPPED)]


def run_dates(
    dates: Sequence[str], run_one: Callable[[str], DateRun], *, max_parallel: int
) -> list[DateRun]:
    """``run_one(date)`` for every date on at most ``max_parallel`` threads; rows in date order."""
    with ThreadPoolExecutor(max_workers=max(1, max_parallel)) as pool:
        return list(pool.map(run_one, dates))


def table(rows: Sequence[DateRun]) -> str:
    """The per-date table printed by --backfill and --catch-up."""
    header = ("date", "action", "status", "rows", "execution", "detail")
    lines = [
        (r.date, r.action, r.status, "" if r.rows is None else str(r.rows), r.execution, r.detail)
        for r in rows
    ]
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=False)
    ]
    render = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *lines)
    ]
    return "\n".join(render)


def existing_row(result: DateResult) -> DateRun:
    """The table row of a date left alone because it has a result."""
    return DateRun(result.date, "exists", PUBLISHED, result.execution_id or "", None, "")


def succeeded(rows: Sequence[DateRun]) -> bool:
    """Whether every date that ran ended well (Succeeded, or a recorded skip)."""
    return all(r.status in ("Succeeded", "Skipped", PUBLISHED) for r in rows)
