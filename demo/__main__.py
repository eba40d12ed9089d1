"""`make demo`: the whole product on one machine, with no AWS account.

An embedded moto server holds the dev, pre-prod and prod accounts. The demo trains a real
scikit-learn model, registers three versions in the dev registry (Approved, Rejected, Pending),
promotes the approved one into pre-prod with build.py, runs the rendered pre-prod pipeline
locally on a sample input with ids, and writes the predictions to demo-output/.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
import pandas as pd

import build
from demo import seed
from demo.local_aws import (
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    PROD_ACCOUNT,
    account_session,
    create_bucket,
    local_aws,
    role_arn,
)
from promotion.config import REPO_ROOT, default_config_path, load_stage_config, parse_s3_url

DEV_BUCKET = f"ml-artifacts-{DEV_ACCOUNT}"
STAGE = "pre-prod"


@dataclass(frozen=True)
class DemoResult:
    """What the demo did, for its summary and for the end-to-end test."""

    source_version: int
    model_package_arn: str
    rows_scored: int
    output_prefix: str
    step_seconds: dict[str, float]
    predictions: pd.DataFrame
    sample: pd.DataFrame
    status: str


def prepare_accounts() -> list[str]:
    """Buckets of all three accounts and three registered versions; returns their ARNs."""
    dev = account_session(DEV_ACCOUNT)
    create_bucket(dev, DEV_BUCKET)
    for stage, account in (("pre-prod", PRE_PROD_ACCOUNT), ("prod", PROD_ACCOUNT)):
        config = load_stage_config(default_config_path(stage))
        session = account_session(account, config.region)
        for bucket in {config.artifacts_bucket, parse_s3_url(config.input_data_url)[0]}:
            create_bucket(session, bucket)
    group = load_stage_config(default_config_path(STAGE)).model_package_group_name
    return seed.register_versions(dev, group=group, bucket=DEV_BUCKET)


def upload_sample(session: boto3.Session, input_url: str, rows: int) -> pd.DataFrame:
    """Half the sample as CSV, half as Parquet: the pipeline reads both."""
    sample = seed.sample_input(rows)
    bucket, prefix = parse_s3_url(input_url)
    half = rows // 2
    s3 = session.client("s3")
    s3.put_object(
        Bucket=bucket, Key=f"{prefix}part-0000.csv", Body=sample[:half].to_csv(index=False)
    )
    parquet = io.BytesIO()
    sample[half:].to_parquet(parquet, index=False)
    s3.put_object(Bucket=bucket, Key=f"{prefix}part-0001.parquet", Body=parquet.getvalue())
    return sample


def read_predictions(
    session: boto3.Session, output_url: str, execution_id: str
) -> tuple[pd.DataFrame, str]:
    """Every Parquet file the run wrote for this execution, and the folder holding them."""
    bucket, prefix = parse_s3_url(output_url)
    s3 = session.client("s3")
    frames, folder = [], output_url
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith(".parquet") and f"/{execution_id}/" in key:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                frames.append(pd.read_parquet(io.BytesIO(body)))
                folder = f"s3://{bucket}/{key.rsplit('/', 1)[0]}/"
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), folder


def run_demo(*, rows: int, output_dir: Path, build_dir: Path) -> DemoResult:
    """Promote into pre-prod and run the pre-prod pipeline locally; the server must be running."""
    from pipelines.local import run_definition

    started = time.perf_counter()
    arns = prepare_accounts()
    print(f"dev registry: {len(arns)} versions registered (Approved, Rejected, Pending)")
    code = build.main(
        ["--stage", STAGE, "--output-dir", str(build_dir),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT)]
    )  # fmt: skip
    if code != 0:
        raise SystemExit(code)
    tfvars = json.loads((build_dir / "deployment.tfvars.json").read_text())
    definition = json.loads((build_dir / "pipeline-definition.json").read_text())
    config = load_stage_config(default_config_path(STAGE))
    session = account_session(PRE_PROD_ACCOUNT, config.region)
    sample = upload_sample(session, config.input_data_url, rows)
    print(f"\nsample input: {rows} rows with ids under {config.input_data_url}")
    print(f"running {tfvars['pipeline_name']} locally\n")
    result = run_definition(
        definition, parameters={}, session=session, model_package_arn=tfvars["model_package_arn"]
    )
    predictions, folder = read_predictions(session, config.output_data_url, result.execution_id)
    output_dir.mkdir(parents=True, exist_ok=True)
    if not predictions.empty:
        predictions.to_parquet(output_dir / "predictions.parquet", index=False)
        predictions.to_csv(output_dir / "predictions.csv", index=False)
    steps = {step.name: step.seconds for step in result.steps}
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s")
    return DemoResult(
        source_version=int(tfvars["source_model_package_version"]),
        model_package_arn=tfvars["model_package_arn"],
        rows_scored=len(predictions),
        output_prefix=folder,
        step_seconds=steps,
        predictions=predictions,
        sample=sample,
        status=result.status,
    )


def print_summary(result: DemoResult, output_dir: Path) -> None:
    """The demo's closing table."""
    rows = [
        ("promoted version", f"{result.source_version} -> {result.model_package_arn}"),
        ("pipeline run", result.status),
        ("rows scored", f"{result.rows_scored} of {len(result.sample)}"),
        ("output location", result.output_prefix),
        *((f"step {name}", f"{seconds:.2f} s") for name, seconds in result.step_seconds.items()),
        ("predictions", str(output_dir / "predictions.parquet")),
    ]
    width = max(len(key) for key, _ in rows)
    print("\nSummary")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; exit 1 when the pipeline run fails."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--rows", type=int, default=5000, help="rows in the sample input")
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "demo-output")
    args = parser.parse_args(argv)
    shutil.rmtree(args.output_dir, ignore_errors=True)
    with local_aws() as endpoint:
        print(f"local AWS (moto) at {endpoint}: accounts {DEV_ACCOUNT} dev, "
              f"{PRE_PROD_ACCOUNT} pre-prod, {PROD_ACCOUNT} prod\n")  # fmt: skip
        result = run_demo(
            rows=args.rows, output_dir=args.output_dir, build_dir=REPO_ROOT / "build" / STAGE
        )
    print_summary(result, args.output_dir)
    return 0 if result.status == "Succeeded" and result.rows_scored == len(result.sample) else 1


if __name__ == "__main__":
    sys.exit(main())
