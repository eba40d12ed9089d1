"""The smoke run of a deployed stage: a small input file scored end to end by the real pipeline.

    python -m pipelines.smoke --stage pre-prod --input inputs/smoke-input.csv --run-id RUN

The input is the repository's own (inputs/smoke-input.csv, its team's: docs/fleet.md).
Before anything is written, its header is checked against the columns the model reads: the stage
key `feature_columns`, else the deployed pipeline's own (its Preprocess arguments, which came from
the package's metadata). A mismatch is one line naming the missing columns and the file. The file
goes to `s3://<input bucket>/smoke/<RUN>/input/` (below the partition of today's date
for a daily `input_layout`), the predictions to `s3://<output bucket>/smoke/<RUN>/predictions/`:
outside the scheduled run's prefixes, so the schedule never scores smoke data. The upload is
create-only, so a re-run of the same attempt never replaces another's input. Then the deployed
pipeline runs with those URLs and that date, and the command waits for it
(`pipelines.run_pipeline --wait`). Exit codes as run_pipeline's.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from errors import ConfigError, PromotionError
from pipelines import run_pipeline
from pipelines.definition import execution
from pipelines.definition.layout import definition_feature_columns
from pipelines.evidence.model_inputs import check_columns
from pipelines.steps.partitions import partition_url
from promotion.config import (
    STAGES,
    StageConfig,
    default_config_path,
    load_stage_config,
    parse_s3_url,
)
from promotion.output import append_step_summary
from promotion.stage_buckets import blaming_stage_keys
from utils import OneLineParser, aws_errors, check_endpoint_environment, make_client

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def run_date(value: str) -> str:
    """--date's type: a calendar date (run_pipeline.is_calendar_date)."""
    if run_pipeline.is_calendar_date(value):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-12-01 (YYYY-MM-DD)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = OneLineParser(prog="python -m pipelines.smoke", description=__doc__)
    parser.add_argument("--stage", choices=STAGES, required=True)
    parser.add_argument("--input", type=Path, required=True, help="the smoke input file")
    parser.add_argument("--run-id", required=True, help="unique per attempt, e.g. RUN-ATTEMPT")
    parser.add_argument("--config", type=Path, help="stage config (default: the stage's file)")
    parser.add_argument("--date", type=run_date, help="the run's date, YYYY-MM-DD (default: "
                        "today, UTC)")  # fmt: skip
    args = parser.parse_args(argv)
    if not RUN_ID.match(args.run_id):
        parser.error(f"--run-id {args.run_id!r}: letters, digits, '.', '_' and '-' only")
    if not args.input.is_file():
        parser.error(f"--input {args.input}: no such file")
    return args


def check_input(session: boto3.Session, config: StageConfig, path: Path) -> None:
    """Refuse a smoke input that does not name the columns the deployed model reads."""
    if config.feature_columns:
        features, source = config.feature_columns, f"the stage key feature_columns of {config.path}"
    else:
        from pipelines.definition.pipeline import pipeline_name_for  # the SDK: 2 s

        name = pipeline_name_for(config)
        definition = execution.deployed_definition(make_client(session, "sagemaker"), name)
        features = definition_feature_columns(definition)
        source = f"the deployed pipeline {name}"
    check_columns(path, features=features, id_column=config.id_column, source=source)


def smoke_urls(input_url: str, output_url: str, run_id: str) -> tuple[str, str]:
    """InputDataUrl and OutputDataUrl of one smoke run."""
    input_bucket, _ = parse_s3_url(input_url)
    output_bucket, _ = parse_s3_url(output_url)
    return (
        f"s3://{input_bucket}/smoke/{run_id}/input/",
        f"s3://{output_bucket}/smoke/{run_id}/predictions/",
    )


def upload(session: boto3.Session, source: Path, url: str) -> None:
    """PutObject of `source` at `url`, refused when the key exists (If-None-Match)."""
    bucket, key = parse_s3_url(url)
    s3 = make_client(session, "s3")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=source.read_bytes(), IfNoneMatch="*")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise
        raise ConfigError(f"{url} exists already: use a new --run-id") from error


def main(
    argv: Sequence[str] | None = None,
    *,
    session_factory: Callable[..., boto3.Session] = boto3.Session,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Upload, run, wait; expected failures print one line."""
    args = parse_args(argv)
    try:
        check_endpoint_environment(dict(os.environ))
        with aws_errors("the configured credentials", "smoke"):
            config = load_stage_config(args.config or default_config_path(args.stage))
            date = args.date or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
            input_url, output_url = smoke_urls(
                config.input_data_url, config.output_data_url, args.run_id
            )
            target = partition_url(input_url, config.input_layout, date) + args.input.name
            with blaming_stage_keys(config):
                session = execution.stage_session(session_factory, config=config, role_arn=None)
                check_input(session, config, args.input)
                upload(session, args.input, target)
    except PromotionError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    parameters = [f"InputDataUrl={input_url}", f"OutputDataUrl={output_url}", f"RunDate={date}"]
    argv_run = ["--stage", args.stage, "--wait"]
    if args.config:
        argv_run += ["--config", str(args.config)]
    for parameter in parameters:
        argv_run += ["--parameter", parameter]
    code = run_pipeline.main(argv_run, session_factory=session_factory, **(
        {"sleep": sleep} if sleep else {}))  # fmt: skip
    if code == 0:
        append_step_summary(f"Smoke run succeeded: `{input_url}` -> `{output_url}`")
    return code


if __name__ == "__main__":
    sys.exit(main())
