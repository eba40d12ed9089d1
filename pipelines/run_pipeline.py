"""Start a stage's deployed pipeline (optionally wait and report each step), or run a rendered
definition on this machine.

    python -m pipelines.run_pipeline --stage pre-prod [--wait] [--parameter Name=Value ...]
    python -m pipelines.run_pipeline --local --definition FILE [--model-package-arn ARN]
    python -m pipelines.run_pipeline --stage pre-prod --backfill 2026-11-01:2026-11-07 \
        [--max-parallel N] [--force]          (or --catch-up --since 2026-11-01; add --local)

Exit codes: 0 Succeeded (or started, without --wait), 1 Failed/Stopped/timeout or an AWS error,
2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import NoCredentialsError

from errors import ConfigError, PromotionError
from pipelines.definition import execution, layout
from promotion.config import REPO_ROOT, STAGES, StageConfig, default_config_path, load_stage_config
from promotion.config_rules import refuse_control_characters
from utils import OneLineParser, aws_errors, check_endpoint_environment, make_client

DEFAULT_TIMEOUT_SECONDS = 6 * 3600
SessionFactory = Callable[..., boto3.Session]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = OneLineParser(
        prog="python -m pipelines.run_pipeline",
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog="Exit codes: 0 Succeeded (or started, without --wait), 1 Failed, Stopped, timed "
        "out or an AWS error, 2 bad input or configuration.",
    )
    parser.add_argument(
        "--stage", choices=STAGES, help="stage whose deployed pipeline to start (unless --local)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="stage config (default: <stage>-config.tfvars.json in the repository root)",
    )
    parser.add_argument(
        "--pipeline-name",
        help="pipeline to start (default: pipeline_name of build/<stage>/deployment.tfvars.json, "
        "else <model_package_group_name>-<stage>-batch-inference)",
    )
    parser.add_argument(
        "--role-arn",
        metavar="ARN",
        help="role to assume in the stage account first (default: the ambient credentials)",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"override a pipeline parameter; repeatable. Names: {', '.join(layout.PARAMETERS)}",
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for the end and report each step's status"
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="with --wait: stop waiting after this many seconds; the run goes on "
        f"(default: {DEFAULT_TIMEOUT_SECONDS})",
    )
    parser.add_argument(
        "--local", action="store_true", help="run --definition on this machine (no SageMaker)"
    )
    parser.add_argument(
        "--definition",
        type=Path,
        metavar="FILE",
        help="with --local: a rendered definition, e.g. build/pre-prod/pipeline-definition.json",
    )
    parser.add_argument(
        "--model-package-arn",
        metavar="ARN",
        help="with --local: the package to score with when the definition's model does not exist",
    )
    dates = parser.add_argument_group("dates (docs/schedules.md)")
    dates.add_argument("--backfill", metavar="FIRST:LAST", help="one execution per date")
    dates.add_argument("--catch-up", action="store_true", help="run dates without a result")
    dates.add_argument("--since", metavar="DATE", help="first date of --catch-up")
    dates.add_argument(
        "--max-parallel", type=int, default=2, help="executions at once (default: 2)"
    )
    dates.add_argument("--force", action="store_true", help="also run dates with a result")
    args = parser.parse_args(argv)
    refuse_control_characters(parser, args)
    if args.catch_up != bool(args.since):
        parser.error("--catch-up and --since go together")
    if args.backfill and args.catch_up:
        parser.error("use either --backfill or --catch-up")
    if args.max_parallel < 1:
        parser.error("--max-parallel must be at least 1")
    if args.local and args.definition is None:
        parser.error("--local needs --definition FILE")
    if not args.local and args.stage is None:
        parser.error("--stage is required (or use --local --definition FILE)")
    if args.timeout < 1:
        parser.error("--timeout must be a positive number of seconds")
    return args


def parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    """``Name=Value`` strings as a dict; the value may be empty or contain ``=``."""
    parameters: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--parameter {pair!r} is not NAME=VALUE")
        parameters[name] = value
    return parameters


def is_calendar_date(value: str) -> bool:
    """Whether `value` is a calendar date written YYYY-MM-DD, as the pipeline's RunDate takes it
    (Python's fromisoformat alone also reads 20261201 and 2026-W49-2)."""
    try:
        return datetime.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def check_inputs(args: argparse.Namespace) -> None:
    """Every input this command can judge alone, refused before AWS is reached (a missing
    credential must not hide a typo): the parameters, RunDate, the backfill's dates, and with
    --local the definition and the parameters' values against their declared types."""
    parameters = parse_parameters(args.parameter)
    run_date = parameters.get("RunDate", "").strip()
    if run_date and not is_calendar_date(run_date):
        raise ConfigError(f"--parameter RunDate {run_date!r} is not a date like 2026-12-01")
    if args.backfill:
        from pipelines.runs.backfill import backfill_dates

        backfill_dates(args.backfill)
    if args.since:
        from pipelines.runs.backfill import parse_date

        parse_date(args.since, "--since")
    if args.local:
        from pipelines.local import DefinitionError, check_definition

        definition = read_definition(args.definition)
        check_parameter_names(parameters, definition)
        try:
            check_definition(definition, parameters)
        except DefinitionError as error:
            raise ConfigError(f"{args.definition}: {error}") from error


def read_definition(path: Path) -> dict[str, Any]:
    """A rendered definition file, or one line naming it."""
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: cannot read the definition ({error})") from error
    if not isinstance(definition, dict):
        raise ConfigError(f"{path}: not a pipeline definition (a JSON object)")
    return definition


def check_parameter_names(parameters: dict[str, str], definition: dict[str, Any]) -> None:
    """Refuse a parameter the definition does not declare (a typo would be ignored silently)."""
    declared = sorted(str(p["Name"]) for p in definition.get("Parameters") or [])
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ConfigError(
            f"unknown pipeline parameter(s) {', '.join(unknown)}; declared: {', '.join(declared)}"
        )


def default_pipeline_name(config: StageConfig) -> str:
    """``pipeline_name`` from build/<stage>/deployment.tfvars.json, else the stage's default."""
    deployment = REPO_ROOT / "build" / config.stage / "deployment.tfvars.json"
    if deployment.is_file():
        name = json.loads(deployment.read_text(encoding="utf-8")).get("pipeline_name")
        if isinstance(name, str) and name:
            return name
    from pipelines.definition.pipeline import pipeline_name_for

    return pipeline_name_for(config)


def run_remote(
    args: argparse.Namespace,
    *,
    session_factory: SessionFactory,
    sleep: Callable[[float], None],
) -> int:
    """Start the deployed pipeline; with --wait, report the end state and every step."""
    config = load_stage_config(args.config or default_config_path(args.stage), stage=args.stage)
    parameters = parse_parameters(args.parameter)
    session = execution.stage_session(
        session_factory, config=config, role_arn=args.role_arn or config.target_role_arn
    )
    sagemaker = make_client(session, "sagemaker")
    pipeline_name = args.pipeline_name or default_pipeline_name(config)
    check_parameter_names(parameters, execution.deployed_definition(sagemaker, pipeline_name))
    arn = execution.start(sagemaker, pipeline_name=pipeline_name, parameters=parameters)
    print(f"started {arn}")
    if not args.wait:
        return 0
    status, reason = execution.wait(sagemaker, execution_arn=arn, timeout=args.timeout, sleep=sleep)
    for step in execution.list_steps(sagemaker, execution_arn=arn):
        failure = f"  {step['reason']}" if step["reason"] else ""
        print(f"  {step['name']:<24} {step['status']}{failure}")
    if status not in execution.TERMINAL_STATUSES:
        print(f"execution still {status} after {args.timeout}s (timed out): {arn}")
        return 1
    print(f"execution {status}: {arn}" + (f" ({reason})" if reason else ""))
    return 0 if status == "Succeeded" else 1


def run_local(args: argparse.Namespace, *, session_factory: SessionFactory) -> int:
    """Run a rendered definition with pipelines.local; print each step's result."""
    definition = read_definition(args.definition)
    parameters = parse_parameters(args.parameter)
    check_parameter_names(parameters, definition)
    region = None
    if args.stage:
        config_path = args.config or default_config_path(args.stage)
        region = load_stage_config(config_path, stage=args.stage).region
    from pipelines.local import DefinitionError, RunOptions, run_definition

    session = session_factory(region_name=region)
    if session.get_credentials() is None:  # one line before the run starts, not a failed step
        raise NoCredentialsError()
    try:
        result = run_definition(
            definition,
            parameters=parameters,
            session=session,
            model_package_arn=args.model_package_arn,
            options=RunOptions(expected_features=layout.definition_feature_columns(definition)),
        )
    except DefinitionError as error:
        raise ConfigError(f"{args.definition}: {error}") from error
    for step in result.steps:  # a failure's reason is printed once, by the runner's log
        print(f"  {step.name:<24} {step.status:<10} {step.seconds:8.1f}s")
    print(f"local execution {result.execution_id}: {result.status}")
    return 0 if result.status == "Succeeded" else 1


def main(
    argv: Sequence[str] | None = None,
    *,
    session_factory: SessionFactory = boto3.Session,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Parse, run, and turn expected failures into one stderr line and an exit code."""
    args = parse_args(argv)
    try:
        check_inputs(args)
        check_endpoint_environment(dict(os.environ))
        with aws_errors("the configured credentials", "run_pipeline"):
            if args.backfill or args.catch_up:
                from pipelines.runs.run_dates import run_dates_command

                return run_dates_command(args, session_factory=session_factory, sleep=sleep)
            if args.local:
                return run_local(args, session_factory=session_factory)
            return run_remote(args, session_factory=session_factory, sleep=sleep)
    except PromotionError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
