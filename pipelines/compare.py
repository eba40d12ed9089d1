"""Champion/challenger: score one evaluation input with two versions in a stage, compare them.

    python -m pipelines.compare --stage pre-prod --champion 6 --challenger 7 [--input URL] [--local]
    python -m pipelines.compare --stage prod --find-champion

Versions are source (dev registry) version numbers; each is found in the stage by its lineage.
Both run the stage's deployed pipeline (``--local``: the rendered definition on this machine)
with ``ModelName`` switched; the champion's model, gone since its successor was deployed, is
recreated from its package for the comparison and deleted afterwards. ``--find-champion`` prints
the source version the stage's pipeline runs (its ModelName -> model -> package -> lineage), or
nothing when the stage runs nothing yet. Reports: ``comparison.json`` and ``comparison.md``
under ``--output`` (default build/<stage>/comparison), also appended to the job summary.

Exit codes: 0 done (whatever the verdict), 1 AWS or run failure or no verdict (repeated ids; the
report says why), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pandas as pd
import pyarrow.parquet as pq

from errors import ConfigError, PromotionError
from pipelines.definition import execution
from pipelines.definition.pipeline import pipeline_name_for
from pipelines.evidence.comparison_rows import Column
from pipelines.evidence.model_inputs import row_count
from pipelines.evidence.quality_comparison import (
    Thresholds,
    compare_predictions,
    markdown_report,
    nothing_to_compare,
    refused_report,
)
from pipelines.evidence.quality_scoring import Scores, local_scorer, remote_scorer
from pipelines.smoke import smoke_urls, upload
from pipelines.steps.postprocess import SUCCESS_FILE
from promotion import registry
from promotion.config import (
    REPO_ROOT,
    ROW_ID_COLUMNS,
    STAGES,
    StageConfig,
    default_config_path,
    load_stage_config,
    parse_s3_url,
)
from promotion.config_rules import refuse_control_characters
from promotion.output import append_step_summary, check_writable_dir, write_atomically
from utils import OneLineParser, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

COMPARISONS_PREFIX = "comparisons"


def source_arn(session: boto3.Session, config: StageConfig, version: int) -> str:
    """The dev registry's ARN of a version, built from its parts."""
    partition = session.get_partition_for_region(config.region)
    return (
        f"arn:{partition}:sagemaker:{config.region}:{config.source_account_id}:model-package/"
        f"{config.model_package_group_name}/{version}"
    )


def stage_package(sm: SageMakerClient, config: StageConfig, arn: str) -> str:
    """The stage's package promoted from ``arn`` (found by lineage), or ConfigError."""
    package = registry.find_promoted(sm, group=config.model_package_group_name, source_arn=arn)
    if package is None:
        raise ConfigError(
            f"{arn} was never promoted into {config.stage} (account {config.account_id}); "
            f"promote it there first (build.py --stage {config.stage} --model-package-arn ...)"
        )
    return str(package["ModelPackageArn"])


def find_champion(sm: SageMakerClient, config: StageConfig) -> int | None:
    """The source version the stage's pipeline runs, or None when it runs nothing yet."""
    name = pipeline_name_for(config)
    summaries = sm.list_pipelines(PipelineNamePrefix=name).get("PipelineSummaries", [])
    if not any(s.get("PipelineName") == name for s in summaries):
        return None
    definition = execution.deployed_definition(sm, name)
    model_name = next(
        (
            p.get("DefaultValue")
            for p in definition.get("Parameters", [])
            if p["Name"] == "ModelName"
        ),
        None,
    )
    models = sm.list_models(NameContains=str(model_name or "")).get("Models", [])
    if not model_name or not any(m["ModelName"] == model_name for m in models):
        return None
    model = sm.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    package_name = container.get("ModelPackageName")
    if not package_name:
        return None
    package = sm.describe_model_package(ModelPackageName=package_name)
    version = (package.get("CustomerMetadataProperties") or {}).get(registry.LINEAGE_SOURCE_VERSION)
    return int(version) if version else None


def read_predictions(s3: S3Client, url: str) -> tuple[pd.DataFrame, list[str] | None]:
    """Every Parquet object under ``url`` as one frame (whatever the layout below it), and the
    id columns the run's ``_SUCCESS`` recorded (None without one)."""
    bucket, prefix = parse_s3_url(url)
    frames, recorded = [], set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key, name = item["Key"], item["Key"].rsplit("/", 1)[-1]
            if not key.endswith(".parquet") and name != SUCCESS_FILE:
                continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if name == SUCCESS_FILE:
                recorded.add(tuple(json.loads(body).get("id_columns") or ()))
            else:
                frames.append(pq.read_table(io.BytesIO(body)).to_pandas())
    if not frames:
        raise PromotionError(f"no predictions under {url}; see the run's failure reason")
    if len(recorded) > 1:
        raise PromotionError(f"the runs under {url} recorded different id columns: {recorded}")
    return pd.concat(frames, ignore_index=True), list(recorded.pop()) if recorded else None


def expected_columns(config: StageConfig) -> tuple[list[str], list[Column]]:
    """The stage's id columns (id_column, else source_file and row_number) and its prediction
    columns (prediction_columns, else one double column, prediction)."""
    ids = [config.id_column] if config.id_column else list(ROW_ID_COLUMNS)
    return ids, [Column.parse(entry) for entry in config.prediction_columns or ("prediction",)]


def run_comparison(
    session: boto3.Session,
    config: StageConfig,
    *,
    champion: int,
    challenger: int,
    score: Scores,
    run_id: str,
) -> tuple[dict[str, Any], str]:
    """Score both versions, compare; return the JSON document and the Markdown report."""
    sm, s3 = session.client("sagemaker"), session.client("s3")
    base = f"s3://{config.artifacts_bucket}/{COMPARISONS_PREFIX}/{run_id}"
    packages = {
        v: stage_package(sm, config, source_arn(session, config, v)) for v in (champion, challenger)
    }
    finishes: list[Callable[[], str | None]] = []
    try:
        for version, package in packages.items():
            finishes.append(score(version, package, f"{base}/v{version}/"))
    finally:
        failures = [failure for failure in (finish() for finish in finishes) if failure]
    if failures:
        raise PromotionError(f"scoring the evaluation input failed: {'; '.join(failures)}")
    runs = {version: read_predictions(s3, f"{base}/v{version}/") for version in packages}
    stage_ids, columns = expected_columns(config)
    recorded = {tuple(ids) for _, ids in runs.values() if ids}
    if len(recorded) > 1:
        raise PromotionError(f"the two versions' runs recorded different id columns: {recorded}")
    thresholds = Thresholds(config.comparison_large_difference, config.comparison_max_large_share)
    result = compare_predictions(
        runs[champion][0], runs[challenger][0], thresholds=thresholds,
        id_columns=list(recorded.pop()) if recorded else stage_ids,
        prediction_columns=columns, versions=(str(champion), str(challenger)),
    )  # fmt: skip
    blocks = config.comparison_blocks_prod and result["verdict"] == "fail"
    names = f"v{champion} (prod)", f"v{challenger}"
    report = markdown_report(result, champion=names[0], challenger=names[1], blocks_prod=blocks)
    document = {"status": "compared", "champion": champion, "challenger": challenger,
                "verdict": result["verdict"], "blocks_prod": blocks, "result": result}  # fmt: skip
    return document, report


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = OneLineParser(prog="python -m pipelines.compare", description=__doc__)
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--config", type=Path, help="stage file (default <stage>-config...)")
    parser.add_argument("--find-champion", action="store_true", help="print the version it runs")
    parser.add_argument("--champion", default="", help="version prod runs (empty: none)")
    parser.add_argument("--challenger", default="", help="the new version")
    parser.add_argument("--input", help="evaluation input URL (default evaluation_input_url)")
    parser.add_argument(
        "--input-file",
        type=Path,
        help="the repository's evaluation rows (inputs/evaluation-rows.csv), scored when neither "
        "--input nor the stage's evaluation_input_url names an S3 input",
    )
    parser.add_argument("--output", type=Path, help="default build/<stage>/comparison")
    parser.add_argument("--local", action="store_true", help="run the definition on this machine")
    parser.add_argument("--definition", type=Path, help="with --local (default build/<stage>/...)")
    parser.add_argument("--role-arn", help="role to assume in the stage (default target_role_arn)")
    args = parser.parse_args(argv)
    refuse_control_characters(parser, args)
    for flag in ("champion", "challenger"):
        value = getattr(args, flag).strip()
        if value and not value.isdigit():
            parser.error(f"--{flag} must be a version number, got {value!r}")
        setattr(args, flag, int(value) if value else None)
    if not args.find_champion and args.challenger is None:
        parser.error("--challenger is required (or use --find-champion)")
    return args


def _rows_file_problem(path: Path) -> str | None:
    """Why the repository's evaluation rows cannot be compared on, or None."""
    if not path.is_file():
        return f"{path} does not exist: add representative rows of the model's input there"
    if row_count(path) == 0:
        return f"{path} holds no rows yet: add representative rows of the model's input"
    return None


def write_reports(output: Path, document: dict[str, Any], report: str) -> None:
    """comparison.json and comparison.md; the report also goes to the job summary and stdout."""
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / "comparison.json", json.dumps(document, indent=2) + "\n")
    write_atomically(output / "comparison.md", report)
    append_step_summary(report)
    print(report)


def output_dir(args: argparse.Namespace, config: StageConfig) -> Path:
    """Where the reports go: --output, else build/<stage>/comparison."""
    return Path(args.output or REPO_ROOT / "build" / config.stage / "comparison")


def run(args: argparse.Namespace, *, session: boto3.Session, sleep: Callable[[float], None]) -> int:
    """Find the champion, or compare; always write a report when comparing."""
    config = load_stage_config(args.config or default_config_path(args.stage), stage=args.stage)
    if args.find_champion:
        version = find_champion(session.client("sagemaker"), config)
        print("" if version is None else version)
        return 0
    output = output_dir(args, config)
    input_url = args.input or config.evaluation_input_url
    rows_file = None if input_url else args.input_file
    reason = None
    if args.champion is None:
        reason = "prod runs no version yet"
    elif args.champion == args.challenger:
        reason = f"prod already runs version {args.champion}"
    elif not input_url and rows_file is None:
        reason = (
            "no evaluation input: add the repository's evaluation rows "
            "(inputs/evaluation-rows.csv) or set evaluation_input_url in the stage config"
        )
    elif rows_file is not None:
        reason = _rows_file_problem(rows_file)
    if reason:
        write_reports(output, {"status": "nothing", "reason": reason, "blocks_prod": False},
                      nothing_to_compare(config.stage, reason))  # fmt: skip
        return 0
    assert args.champion is not None  # narrowed above
    run_id = f"{os.environ.get('GITHUB_RUN_ID', 'local')}-{time.strftime('%Y%m%dT%H%M%S')}"
    if rows_file is not None:  # beside the smoke inputs: a prefix the stage roles share
        input_url, _ = smoke_urls(config.input_data_url, config.output_data_url,
                                  f"{run_id}-evaluation")  # fmt: skip
        upload(session, rows_file, input_url + rows_file.name)
    assert input_url is not None  # the stage's, the flag's, or the uploaded rows'
    if args.local:
        definition = (
            args.definition or REPO_ROOT / "build" / config.stage / "pipeline-definition.json"
        )
        score = local_scorer(session, definition, input_url)
    else:
        score = remote_scorer(session, config, input_url, sleep=sleep)
    try:
        document, report = run_comparison(
            session, config, champion=args.champion, challenger=args.challenger, score=score,
            run_id=run_id,
        )  # fmt: skip
    except PromotionError as error:  # no verdict: a stage the comparison blocks stays blocked
        blocks = config.comparison_blocks_prod
        write_reports(output, {"status": "refused", "reason": str(error), "blocks_prod": blocks},
                      refused_report(config.stage, str(error), blocks_prod=blocks))  # fmt: skip
        raise
    write_reports(output, document, report)
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    session_factory: Callable[..., boto3.Session] = boto3.Session,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run the CLI; expected failures print one line and return 1 or 2."""
    args = parse_args(argv)
    try:
        config = load_stage_config(args.config or default_config_path(args.stage), stage=args.stage)
        if not args.find_champion:  # refused before the minutes a comparison takes
            check_writable_dir(output_dir(args, config), flag="--output")
        # The lookup runs with read-only credentials of that stage: no role to assume then.
        role = args.role_arn or (None if args.find_champion else config.target_role_arn)
        with aws_errors("the configured credentials", "pipelines.compare"):
            session = execution.stage_session(session_factory, config=config, role_arn=role)
            return run(args, session=session, sleep=sleep)
    except PromotionError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
