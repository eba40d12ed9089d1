"""Daily partitions on one machine: seed three days, backfill them with the local runner, and
show the per-date table and the authoritative predictions of each date.

    python -m demo.daily

The pre-prod stage is used with a daily layout (``dt=YYYY-MM-DD``, missing input skipped).
`run_daily_demo` expects the local AWS of testbed/local_aws.py to be running (the main demo can
call it inside its own ``local_aws()``); `main` starts one.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
import pandas as pd

from pipelines import run_pipeline
from pipelines.definition.pipeline import (
    pipeline_name_for,
    render_definition,
    upload_step_scripts,
)
from pipelines.runs import results
from pipelines.steps import partitions
from promotion.config import StageConfig, default_config_path, load_stage_config, parse_s3_url
from testbed import seed
from testbed.local_aws import PRE_PROD_ACCOUNT, account_session, create_bucket, local_aws
from utils import OneLineParser

DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")
LAYOUT = "dt=YYYY-MM-DD"
MODEL_NAME = "daily-demo-model"  # does not exist locally: the runner serves the package


@dataclass(frozen=True)
class DailyStage:
    """The stage the daily demo runs: its session, config, rendered definition and package."""

    session: boto3.Session
    config: StageConfig
    definition_path: Path
    package_arn: str


@dataclass(frozen=True)
class DailyResult:
    """What the daily demo did: the backfill's exit code and each date's predictions."""

    exit_code: int
    stage: DailyStage
    inputs: dict[str, pd.DataFrame]
    predictions: dict[str, pd.DataFrame]


def daily_config() -> StageConfig:
    """The pre-prod stage with a daily layout, its features and ids set. Its input lives under
    ``daily/``, beside the stage's input (a run of the stage's own input must not read these
    partitions); its runs write where the stage's do, so `build.py --status` lists them."""
    config = load_stage_config(default_config_path("pre-prod"))
    bucket, _ = parse_s3_url(config.input_data_url)
    return config.model_copy(
        update={
            "input_data_url": f"s3://{bucket}/daily/",
            "input_layout": LAYOUT,
            "missing_input": "skip",
            "feature_columns": tuple(seed.FEATURES),
            "id_column": seed.ID_COLUMN,
        }
    )


def prepare_stage(work_dir: Path) -> DailyStage:
    """Buckets, one Approved package, the step scripts and the rendered definition."""
    config = daily_config()
    session = account_session(PRE_PROD_ACCOUNT, config.region)
    existing = {b["Name"] for b in session.client("s3").list_buckets().get("Buckets", [])}
    for bucket in {config.artifacts_bucket, parse_s3_url(config.input_data_url)[0]} - existing:
        create_bucket(session, bucket)
    (package_arn,) = seed.register_versions(
        session,
        group=f"{config.model_package_group_name}-daily",
        bucket=config.artifacts_bucket,
        statuses=("Approved",),
    )
    upload_step_scripts(session.client("s3"), config=config)
    definition = render_definition(
        config=config,
        pipeline_name=pipeline_name_for(config),
        model_name=MODEL_NAME,
        model_package_version=1,
        feature_columns=seed.FEATURES,
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "pipeline-definition.json"
    path.write_text(definition, encoding="utf-8")
    return DailyStage(session, config, path, package_arn)


def seed_days(stage: DailyStage, days: Sequence[str], rows: int) -> dict[str, pd.DataFrame]:
    """One CSV partition per date under the stage's input, ids prefixed by the date."""
    s3 = stage.session.client("s3")
    inputs = {}
    for index, day in enumerate(days):
        sample = seed.sample_input(rows, seed=index)
        sample[seed.ID_COLUMN] = [f"{day}-{n:05d}" for n in range(rows)]
        url = partitions.partition_url(stage.config.input_data_url, LAYOUT, day)
        bucket, prefix = parse_s3_url(url)
        s3.put_object(Bucket=bucket, Key=f"{prefix}part-0000.csv", Body=sample.to_csv(index=False))
        inputs[day] = sample
    return inputs


def backfill(stage: DailyStage, first: str, last: str, *extra: str) -> int:
    """``run_pipeline --local --backfill FIRST:LAST`` on the stage (prints its table)."""
    argv = [
        *("--local", "--definition", str(stage.definition_path)),
        *("--model-package-arn", stage.package_arn, "--backfill", f"{first}:{last}"),
        *("--max-parallel", "2", *extra),
    ]
    return run_pipeline.main(argv, session_factory=lambda **_: stage.session)


def authoritative(stage: DailyStage, days: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The authoritative predictions of each published date (results.read_predictions)."""
    s3 = stage.session.client("s3")
    found = {}
    for day in days:
        state = results.date_result(s3, output_url=stage.config.output_data_url, date=day)
        if state.status == results.PUBLISHED:
            table = results.read_predictions(s3, output_url=stage.config.output_data_url, date=day)
            found[day] = table.to_pandas()
    return found


def print_results(predictions: dict[str, pd.DataFrame]) -> None:
    """Rows, executions and the first rows of each date's authoritative predictions."""
    print("\nAuthoritative predictions (results.read_predictions)")
    for day, frame in predictions.items():
        executions = ", ".join(sorted(frame["execution_id"].unique()))
        print(f"  {day}: {len(frame)} rows, execution {executions}")
    if predictions:
        first = next(iter(predictions.values()))
        print(first[[seed.ID_COLUMN, "prediction", "run_date"]].head(3).to_string(index=False))


def run_daily_demo(work_dir: Path, *, days: Sequence[str] = DAYS, rows: int = 300) -> DailyResult:
    """Seed ``days``, backfill them locally, print the table and the authoritative results."""
    stage = prepare_stage(work_dir)
    inputs = seed_days(stage, days, rows)
    print(f"seeded {len(days)} daily partitions ({LAYOUT}) under {stage.config.input_data_url}")
    code = backfill(stage, days[0], days[-1])
    predictions = authoritative(stage, days)
    print_results(predictions)
    return DailyResult(code, stage, inputs, predictions)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the local AWS and run the daily demo; exit 1 when a date did not succeed."""
    parser = OneLineParser(prog="python -m demo.daily", description=__doc__)
    parser.add_argument("--rows", type=int, default=300, help="rows per day")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # before the SDK's import-time basicConfig(INFO)
    with local_aws(), tempfile.TemporaryDirectory(prefix="daily-demo-") as work:
        result = run_daily_demo(Path(work), rows=args.rows)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
