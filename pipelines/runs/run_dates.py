"""``run_pipeline --backfill / --catch-up``: one execution per date, in the cloud or locally.

The dates come from one source, the definition being run (the rendered file with --local, the
deployed pipeline's otherwise): its Preprocess arguments say the input layout and lag the runs
will use. A --stage may confirm them; a stage file that says otherwise is refused.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable
from typing import Any

import boto3

from errors import ConfigError
from pipelines.definition import execution, layout
from pipelines.run_pipeline import (
    SessionFactory,
    check_parameter_names,
    default_pipeline_name,
    parse_parameters,
    read_definition,
)
from pipelines.runs import backfill, results
from pipelines.steps import partitions
from promotion.config import StageConfig, default_config_path, load_stage_config

RunOne = Callable[[str], backfill.DateRun]


def _dates(
    args: argparse.Namespace, settings: tuple[str, int] | None, today: datetime.date, where: str
) -> list[str]:
    if args.backfill:
        return backfill.backfill_dates(args.backfill)
    if settings is None:
        raise ConfigError(
            f"{where} has no --input-layout/--lag-days in its Preprocess step: cannot tell "
            "which dates its schedule scores; use --backfill"
        )
    input_layout, lag_days = settings
    lag = 0 if input_layout == "snapshot" else lag_days  # as partitions.resolve_date
    return backfill.catch_up_dates(args.since, today=today, lag_days=lag)


def date_settings(definition: dict[str, Any]) -> tuple[str, int] | None:
    """(input layout, lag days) that the definition's Preprocess passes to its script, or None."""
    steps = [s for s in definition.get("Steps") or [] if s.get("Name") == layout.PREPROCESS]
    app = ((steps[0] if steps else {}).get("Arguments") or {}).get("AppSpecification") or {}
    arguments = list(app.get("ContainerArguments") or [])
    found: dict[str, str] = {}
    for flag in (layout.INPUT_LAYOUT_FLAG, layout.LAG_DAYS_FLAG):
        if flag in arguments[:-1] and isinstance(arguments[arguments.index(flag) + 1], str):
            found[flag] = arguments[arguments.index(flag) + 1]
    if len(found) < 2 or not found[layout.LAG_DAYS_FLAG].isdigit():
        return None
    return found[layout.INPUT_LAYOUT_FLAG], int(found[layout.LAG_DAYS_FLAG])


def schedule_timezone(definition: dict[str, Any]) -> str:
    """The schedule's zone the definition's Preprocess is given (UTC for one rendered before)."""
    steps = [s for s in definition.get("Steps") or [] if s.get("Name") == layout.PREPROCESS]
    app = ((steps[0] if steps else {}).get("Arguments") or {}).get("AppSpecification") or {}
    arguments = list(app.get("ContainerArguments") or [])
    if layout.TIMEZONE_FLAG in arguments[:-1]:
        value = arguments[arguments.index(layout.TIMEZONE_FLAG) + 1]
        if isinstance(value, str) and value:
            return value
    return "UTC"


def _today(definition: dict[str, Any], now: datetime.datetime | None) -> datetime.date:
    """Today on the schedule's clock: the day whose scheduled run scores the last date."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        return moment.astimezone(partitions.schedule_zone(schedule_timezone(definition))).date()
    except partitions.PartitionError as error:
        raise ConfigError(str(error)) from error


def _confirm(config: StageConfig | None, settings: tuple[str, int] | None, where: str) -> None:
    """A --stage may confirm the definition's layout and lag, never contradict them."""
    if config is None or settings is None:
        return
    stage = (config.input_layout, config.input_lag_days)
    if stage != settings:
        raise ConfigError(
            f"{config.path} says input_layout {stage[0]!r}, input_lag_days {stage[1]} but "
            f"{where} runs with {settings[0]!r}, lag {settings[1]}: build and deploy the stage "
            "again, or run the definition it was built from"
        )


def _finished_row(date: str, status: str, execution_id: str, s3: Any, output_url: str,
                  reason: str | None) -> backfill.DateRun:  # fmt: skip
    """The row of a date that ran: the execution's status and its OWN rows (its _SUCCESS)."""
    found = results.date_result(s3, output_url=output_url, date=date)
    rows = results.execution_rows(s3, output_url=output_url, date=date, execution_id=execution_id)
    if status == "Succeeded" and found.status == results.SKIPPED:
        return backfill.DateRun(date, "run", "Skipped", execution_id, None, "no input")
    if status == "Succeeded" and found.execution_id != execution_id:
        detail = f"published is {found.execution_id} (a later run finished last)"
        return backfill.DateRun(date, "run", status, execution_id, rows, detail)
    return backfill.DateRun(date, "run", status, execution_id, rows, reason or "")


def _remote_runner(args: argparse.Namespace, sagemaker: Any, s3: Any, pipeline_name: str,
                   parameters: dict[str, str], output_url: str,
                   sleep: Callable[[float], None]) -> RunOne:  # fmt: skip
    def run_one(date: str) -> backfill.DateRun:
        arn = execution.start(
            sagemaker, pipeline_name=pipeline_name, parameters={**parameters, "RunDate": date}
        )
        status, reason = execution.wait(
            sagemaker, execution_arn=arn, timeout=args.timeout, sleep=sleep
        )
        if status not in execution.TERMINAL_STATUSES:
            status = "TimedOut"
        return _finished_row(date, status, arn.rsplit("/", 1)[-1], s3, output_url, reason)

    return run_one


def _local_runner(args: argparse.Namespace, definition: dict[str, Any], session: boto3.Session,
                  parameters: dict[str, str], output_url: str) -> RunOne:  # fmt: skip
    from pipelines.local import RunOptions, run_definition

    s3 = session.client("s3")
    options = RunOptions(expected_features=layout.definition_feature_columns(definition))

    def run_one(date: str) -> backfill.DateRun:
        result = run_definition(
            definition,
            parameters={**parameters, "RunDate": date},
            session=session,
            model_package_arn=args.model_package_arn,
            log=lambda _line: None,
            options=options,
        )
        failed = [step for step in result.steps if step.failure_reason]
        reason = failed[0].failure_reason if failed else None
        return _finished_row(date, result.status, result.execution_id, s3, output_url, reason)

    return run_one


def _default_output(definition: dict[str, Any]) -> str:
    for parameter in definition.get("Parameters") or []:
        if parameter.get("Name") == "OutputDataUrl":
            return str(parameter.get("DefaultValue", ""))
    raise ConfigError("the definition declares no OutputDataUrl parameter")


def run_dates_command(
    args: argparse.Namespace,
    *,
    session_factory: SessionFactory,
    sleep: Callable[[float], None],
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
) -> int:
    """Decide the dates, run those without a result (or all with --force), print the table."""
    parameters = parse_parameters(args.parameter)
    if "RunDate" in parameters:
        raise ConfigError("--parameter RunDate cannot be combined with --backfill/--catch-up")
    config = None
    if args.stage:
        config = load_stage_config(args.config or default_config_path(args.stage), stage=args.stage)
    if args.local:
        definition = read_definition(args.definition)
        where = str(args.definition)
        check_parameter_names(parameters, definition)
        session = session_factory(region_name=config.region if config else None)
        output_url = parameters.get("OutputDataUrl") or _default_output(definition)
        s3 = session.client("s3")
        run_one = _local_runner(args, definition, session, parameters, output_url)
    else:
        if config is None:
            raise ConfigError("--stage is required without --local")
        session = execution.stage_session(
            session_factory, config=config, role_arn=args.role_arn or config.target_role_arn
        )
        sagemaker, s3 = session.client("sagemaker"), session.client("s3")
        pipeline_name = args.pipeline_name or default_pipeline_name(config)
        definition = execution.deployed_definition(sagemaker, pipeline_name)
        where = f"the deployed pipeline {pipeline_name}"
        check_parameter_names(parameters, definition)
        output_url = parameters.get("OutputDataUrl") or config.output_data_url
        run_one = _remote_runner(args, sagemaker, s3, pipeline_name, parameters, output_url, sleep)
    settings = date_settings(definition)
    _confirm(config, settings, where)
    today = today or _today(definition, now)
    dates = _dates(args, settings, today, where)
    existing = {d: results.date_result(s3, output_url=output_url, date=d) for d in dates}
    to_run = backfill.plan(dates, existing, force=args.force)
    print(f"{len(dates)} date(s), {len(to_run)} to run, at most {args.max_parallel} at once")
    ran = {
        row.date: row for row in backfill.run_dates(to_run, run_one, max_parallel=args.max_parallel)
    }
    rows = [ran.get(d) or backfill.existing_row(existing[d]) for d in dates]
    print(backfill.table(rows))
    return 0 if backfill.succeeded(rows) else 1
