"""The phases of `make demo`: the life of a model version, told on the embedded AWS.

Each phase is a function taking the shared `Story`; `PHASES` lists them in order, so adding a
phase is one line (`Phase("title", function)`). A phase prints what it shows and records the
facts of the closing summary in `story.facts`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
from botocore.client import BaseClient

import build
from promotion.config import (
    REPO_ROOT,
    StageConfig,
    default_config_path,
    load_stage_config,
    parse_s3_url,
)
from promotion.output import text_table
from testbed import seed
from testbed.deploy import Deployer, ProviderUnavailable, apply_with_boto3
from testbed.local_aws import (
    DEV_ACCOUNT,
    account_session,
    create_bucket,
    role_arn,
)

DEV_BUCKET = f"ml-artifacts-{DEV_ACCOUNT}"
DAILY_ROWS = 300  # rows per date in the daily phase
WRITE_PREFIXES = ("Create", "Put", "Copy", "Upload", "Complete", "Delete", "Update", "Start")


@dataclass
class Story:
    """What the phases share: where to write, the stages, and what earlier phases produced."""

    rows: int
    output_dir: Path
    configs: dict[str, StageConfig] = field(default_factory=dict)
    source_arns: list[str] = field(default_factory=list)
    tfvars: dict[str, dict[str, Any]] = field(default_factory=dict)
    facts: list[tuple[str, str]] = field(default_factory=list)
    succeeded: bool = True
    commit: str = ""  # recorded as the promotion's git commit, as GITHUB_SHA is in the workflow
    deployer: Deployer | None = None  # None: the boto3 stand-in (no Terraform provider here)

    def session(self, stage: str) -> boto3.Session:
        """A session in the stage's account."""
        config = self.configs[stage]
        return account_session(config.account_id, config.region)

    def approved(self) -> list[str]:
        """Source ARNs of the Approved versions, oldest first."""
        return [a for a, s in zip(self.source_arns, seed.VERSION_STATUSES, strict=True)
                if s == "Approved"]  # fmt: skip

    def build(self, stage: str, *extra: str) -> None:
        """Run build.py for a stage exactly as the workflow does; a failure ends the demo."""
        config = self.configs[stage]
        shown = ["--stage", stage, "--output-dir", str(self.output_dir / "build" / stage), *extra]
        print(f"$ python build.py {' '.join(shown)}")
        roles = ["--source-role-arn", role_arn(DEV_ACCOUNT),
                 "--target-role-arn", role_arn(config.account_id)]  # fmt: skip
        previous = os.environ.get("GITHUB_SHA")
        os.environ["GITHUB_SHA"] = self.commit
        try:
            code = build.main([*shown, *roles])
        finally:
            os.environ.pop("GITHUB_SHA")
            if previous is not None:
                os.environ["GITHUB_SHA"] = previous
        if code != 0:
            raise SystemExit(code)

    def deploy(self, stage: str) -> dict[str, Any]:
        """`terraform apply` of build.py's outputs, as the workflow does (in the background; see
        `deployed`), or the boto3 stand-in when Terraform has no provider here."""
        path = self.output_dir / "build" / stage / "deployment.tfvars.json"
        self.deployed(stage)  # its previous deployment first (the stand-in, if it fell back)
        self.tfvars[stage] = json.loads(path.read_text())
        if self.deployer is not None:
            self.deployer.start(stage, self.session(stage), self.tfvars[stage])
        else:
            apply_with_boto3(self.session(stage), self.configs[stage], self.tfvars[stage])
            print(
                f"  (the boto3 stand-in deployed {stage}: model {self.tfvars[stage]['model_name']})"
            )
        return self.tfvars[stage]

    def deployed(self, stage: str) -> None:
        """Wait for the stage's deployment; without a provider, fall back to the stand-in."""
        if self.deployer is None:
            return
        try:
            self.deployer.wait(stage)
        except ProviderUnavailable:
            print(
                "  terraform could not install hashicorp/aws (no mirror on this machine, no"
                " registry): the demo deploys with its boto3 stand-in (testbed/deploy.py)"
            )
            # Every stage still deploying falls back too (they lack the same provider).
            pending = [stage, *self.deployer.running]
            for other in list(self.deployer.running):
                self.deployer.running.pop(other).thread.join()
            self.deployer = None
            for each in pending:
                apply_with_boto3(self.session(each), self.configs[each], self.tfvars[each])


@dataclass(frozen=True)
class Phase:
    """One step of the story."""

    title: str
    run: Callable[[Story], None]


@contextmanager
def counting_writes() -> Iterator[list[str]]:
    """Record every AWS call that writes (Create*, Put*, Copy*, ...) made in this process."""
    writes: list[str] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private to botocore)

    def record(self: BaseClient, operation: str, params: Any) -> Any:
        if operation.startswith(WRITE_PREFIXES):
            writes.append(f"{self.meta.service_model.service_name}:{operation}")
        return original(self, operation, params)

    setattr(BaseClient, "_make_api_call", record)  # noqa: B010
    try:
        yield writes
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def register_versions(story: Story) -> None:
    """Buckets in all three accounts; four versions of a real model in the dev registry."""
    dev = account_session(DEV_ACCOUNT)
    create_bucket(dev, DEV_BUCKET)
    for stage in ("pre-prod", "prod"):
        config = story.configs[stage] = load_stage_config(default_config_path(stage))
        session = story.session(stage)
        for bucket in {config.artifacts_bucket, parse_s3_url(config.input_data_url)[0]}:
            create_bucket(session, bucket)
    group = story.configs["pre-prod"].model_package_group_name
    story.source_arns = seed.register_versions(dev, group=group, bucket=DEV_BUCKET)
    rows = [(arn.rsplit("/", 1)[-1], status, arn) for arn, status in
            zip(story.source_arns, seed.VERSION_STATUSES, strict=True)]  # fmt: skip
    print(f"dev registry {group} (account {DEV_ACCOUNT}):")
    print(text_table(("version", "approval", "source ARN"), rows))


def plan_pre_prod(story: Story) -> None:
    """--dry-run: what a promotion would copy and create, with no write."""
    with counting_writes() as writes:
        story.build("pre-prod", "--dry-run")
    print(f"  AWS writes: {len(writes)}")


def promote_pre_prod(story: Story) -> None:
    """Promote the latest Approved version into pre-prod and deploy it."""
    story.build("pre-prod")
    tfvars = story.deploy("pre-prod")
    version, arn = tfvars["source_model_package_version"], tfvars["model_package_arn"]
    story.facts.append(("pre-prod promoted", f"source version {version} as {arn}"))


def rerun_pre_prod(story: Story) -> None:
    """The same promotion again: everything is found and reused, nothing is written."""
    with counting_writes() as writes:
        story.build("pre-prod")
    print(f"  AWS writes: {len(writes)}{' (' + ', '.join(writes) + ')' if writes else ''}")
    story.facts.append(("re-run writes", str(len(writes))))


def run_pre_prod(story: Story) -> None:
    """Run the deployed pre-prod definition locally on held-out rows; measure its accuracy."""
    from pipelines.local import run_definition

    config, tfvars = story.configs["pre-prod"], story.tfvars["pre-prod"]
    session = story.session("pre-prod")
    labelled = seed.sample_input(story.rows, labels=True)
    upload_sample(session, config.input_data_url, labelled.drop(columns=[seed.LABEL_COLUMN]))
    print(f"  {story.rows} held-out rows with ids under {config.input_data_url}")
    definition = json.loads((REPO_ROOT / tfvars["pipeline_definition_file"]).read_text())
    work_dir = story.output_dir / "local-run"
    result = run_definition(
        definition, parameters={}, session=session, work_dir=work_dir,
        model_package_arn=tfvars["model_package_arn"], log=lambda line: print(f"  {line}"),
    )  # fmt: skip
    if result.status != "Succeeded":
        failed = next(step for step in result.steps if step.status == "Failed")
        print(f"  {failed.name} failed; its files and logs: {work_dir / result.execution_id}")
        story.succeeded = False
        raise SystemExit(1)
    predictions, folder = read_predictions(session, config.output_data_url, result.execution_id)
    predictions.to_csv(story.output_dir / "predictions.csv", index=False)
    scored = predictions.merge(labelled[[seed.ID_COLUMN, seed.LABEL_COLUMN]], on=seed.ID_COLUMN)
    accuracy = float(((scored["prediction"] > 0.5).astype(int) == scored[seed.LABEL_COLUMN]).mean())
    story.succeeded = len(predictions) == story.rows
    print(text_table(("step", "status", "seconds"),
                     [(s.name, s.status, f"{s.seconds:.2f}") for s in result.steps]))  # fmt: skip
    story.facts += [
        ("rows scored", f"{len(predictions)} of {story.rows} -> {folder}"),
        ("accuracy", f"{accuracy:.1%} against the held-out labels ({len(scored)} rows)"),
        ("predictions", str(story.output_dir / "predictions.csv")),
    ]
    print(f"  accuracy against the held-out labels: {accuracy:.1%}")


def backfill_daily(story: Story) -> None:
    """A daily layout: three dates seeded, backfilled, each with one authoritative result."""
    from demo.daily import DAYS, run_daily_demo

    result = run_daily_demo(story.output_dir / "daily", days=DAYS, rows=DAILY_ROWS)
    published = {day: len(frame) for day, frame in result.predictions.items()}
    story.succeeded &= result.exit_code == 0 and len(published) == len(DAYS)
    rows = "/".join(str(count) for count in published.values()) or "0"
    story.facts.append(("daily backfill", f"{len(published)} of {len(DAYS)} dates published "
                        f"({DAYS[0]} to {DAYS[-1]}), {rows} rows"))  # fmt: skip


def show_evidence(story: Story) -> None:
    """What prod's reviewer sees: the data-quality gate on a clean and a drifted batch, and the
    older Approved version compared with the newest on the held-out rows."""
    from demo import evidence

    found = evidence.show_evidence(
        story.output_dir / "evidence", log=lambda line: print(f"  {line}")
    )
    story.succeeded &= found.clean_passed and found.drift_caught
    drift = found.drift_line.removeprefix("preprocess failed: data quality: ")
    story.facts += [
        ("data quality", f"clean batch {'passed' if found.clean_passed else 'FAILED'}; drifted "
                         f"batch {'stopped: ' + drift if found.drift_caught else 'NOT caught'}"),
        ("v1 vs v3", f"{found.comparison_verdict}, {found.agreement:.1%} of {found.rows} "
                     f"predictions agree -> {found.reports['comparison']}"),
    ]  # fmt: skip


def promote_prod(story: Story) -> None:
    """Prod gets the very source ARN pre-prod tested; it never re-resolves "latest"."""
    source = story.tfvars["pre-prod"]["source_model_package_arn"]
    # prod-plan promotes an inert package; only the reviewed prod job approves it (and applies).
    story.build("prod", "--model-package-arn", source, "--approval-status", "PendingManualApproval")
    print("  (prod-plan ends here; in GitHub a reviewer now approves the prod job)")
    story.build("prod", "--approve")
    tfvars = story.deploy("prod")
    same = tfvars["source_model_package_arn"] == source
    print(f"  same source ARN as pre-prod: {'yes' if same else 'NO'}")
    story.succeeded &= same
    story.facts.append(("prod runs", f"source version {tfvars['source_model_package_version']}"
                        f" (same source ARN as pre-prod: {'yes' if same else 'no'})"))  # fmt: skip


def roll_back_pre_prod(story: Story) -> None:
    """Pin the older Approved version: a rollback is a promotion of an earlier ARN."""
    older = story.approved()[0]
    story.build("pre-prod", "--model-package-arn", older)
    tfvars = story.deploy("pre-prod")
    version = tfvars["source_model_package_version"]
    story.facts.append(("rollback", f"pre-prod runs source version {version} again"))


def show_status(story: Story) -> None:
    """What an operator sees: `build.py --stage pre-prod --status`."""
    config = story.configs["pre-prod"]
    story.deployed("pre-prod")
    story.deployed("prod")
    print("$ python build.py --stage pre-prod --status")
    code = build.main(["--stage", "pre-prod", "--status",
                       "--target-role-arn", role_arn(config.account_id)])  # fmt: skip
    story.succeeded &= code == 0


def upload_sample(session: boto3.Session, input_url: str, sample: pd.DataFrame) -> None:
    """Half the sample as CSV, half as Parquet: the pipeline reads both."""
    bucket, prefix = parse_s3_url(input_url)
    half = len(sample) // 2
    s3 = session.client("s3")
    s3.put_object(
        Bucket=bucket, Key=f"{prefix}part-0000.csv", Body=sample[:half].to_csv(index=False)
    )
    parquet = io.BytesIO()
    sample[half:].to_parquet(parquet, index=False)
    s3.put_object(Bucket=bucket, Key=f"{prefix}part-0001.parquet", Body=parquet.getvalue())


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


PHASES: list[Phase] = [
    Phase("Register four versions in the dev registry", register_versions),
    Phase("Plan the promotion to pre-prod (--dry-run)", plan_pre_prod),
    Phase("Promote the latest Approved version to pre-prod", promote_pre_prod),
    Phase("Re-run the same promotion", rerun_pre_prod),
    Phase("Run the pre-prod pipeline locally", run_pre_prod),
    Phase("Backfill three days of a daily layout", backfill_daily),
    Phase("Evidence for prod's reviewer: data quality, two versions", show_evidence),
    Phase("Promote the same source ARN to prod", promote_prod),
    Phase("Roll pre-prod back to the older Approved version", roll_back_pre_prod),
    Phase("Status of pre-prod", show_status),
]
