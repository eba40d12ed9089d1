"""The phases of `make demo`: the life of a model version, told on the embedded AWS.

Each phase is a function taking the shared `Story`; `PHASES` lists them in order, so adding a
phase is one line (`Phase("title", function)`). A phase prints what it shows and records the
facts of the closing summary in `story.facts`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
from botocore.client import BaseClient

import build
from demo import kinds
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

DEV_BUCKET = kinds.DEV_BUCKET
score_locally, short_image = kinds.score_locally, kinds.short_image
DAILY_ROWS = 300  # rows per date in the daily phase
# Why the status phase waits, and why a stage's first apply takes at least 25 s on any machine
# (terraform-provider-aws, internal/service/sqs: waitQueueAttributesPropagated).
TERRAFORM_WAIT = (
    "the status reads what it deployed (a stage's first apply takes at least 25 s on any "
    "machine: the AWS provider reads a new SQS queue 6 times, 5 s apart, before reporting it)"
)
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
    labelled: pd.DataFrame | None = None  # the held-out rows every model kind scores, labels kept
    accuracies: list[tuple[str, str, str]] = field(default_factory=list)  # kind, image, accuracy
    queued: dict[str, threading.Thread] = field(default_factory=dict)  # behind a running apply
    queue_errors: dict[str, BaseException] = field(default_factory=dict)
    deferred: dict[str, list[str]] = field(default_factory=dict)  # their lines, printed later
    terraform_wait: float = 0.0  # seconds the story waited for Terraform (show_status says why)

    def session(self, stage: str) -> boto3.Session:
        """A session in the stage's account."""
        config = self.configs[stage]
        return account_session(config.account_id, config.region)

    def approved(self) -> list[str]:
        """Source ARNs of the Approved versions, oldest first."""
        return [a for a, s in zip(self.source_arns, seed.VERSION_STATUSES, strict=True)
                if s == "Approved"]  # fmt: skip

    def build(self, stage: str, *extra: str, model: Path | None = None) -> None:
        """Run build.py for a stage exactly as the workflow does; a failure ends the demo.
        `model`: another model's folder (demo/kinds.py), holding its stage files and build."""
        config = self.configs[stage]
        home = model or self.output_dir
        shown = ["--stage", stage, "--output-dir", str(home / "build" / stage), *extra]
        if model is not None:
            shown[2:2] = ["--config", str(model / f"{stage}-config.tfvars.json")]
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
        `deployed`), or the boto3 stand-in when Terraform has no provider here. While the stage's
        previous apply runs, this one is queued behind it (one apply at a time per state); the
        story goes on."""
        path = self.output_dir / "build" / stage / "deployment.tfvars.json"
        tfvars = self.tfvars[stage] = json.loads(path.read_text())
        if self.deployer is not None and (stage in self.deployer.running or stage in self.queued):
            print(f"  ({stage}'s previous terraform apply is still running: this one follows it "
                  "in the background, one apply at a time per state)")  # fmt: skip
            self.queued[stage] = self._follow(stage, self.deployer, tfvars)
        elif self.deployer is not None:
            self.deployer.start(stage, self.session(stage), tfvars)
        else:
            apply_with_boto3(self.session(stage), self.configs[stage], self.tfvars[stage])
            print(
                f"  (the boto3 stand-in deployed {stage}: model {self.tfvars[stage]['model_name']})"
            )
        return self.tfvars[stage]

    def deploying(self, stage: str) -> bool:
        """Whether a Terraform apply of the stage runs or waits to."""
        return self.deployer is not None and (stage in self.deployer.running
                                              or stage in self.queued)  # fmt: skip

    def _follow(self, stage: str, deployer: Deployer, tfvars: dict[str, Any]) -> threading.Thread:
        """A thread starting this deployment once the stage's earlier ones have ended."""
        session, before = self.session(stage), self.queued.get(stage)
        deployer.log = self._log  # lines from the thread wait for `deployed` (a stable story)

        def follow() -> None:
            if before is not None:
                before.join()
            if stage not in self.queue_errors:
                try:
                    deployer.start(stage, session, tfvars)  # joins the running one first
                except (Exception, SystemExit) as error:
                    self.queue_errors[stage] = error

        thread = threading.Thread(target=follow, name=f"deploy-{stage}", daemon=True)
        thread.start()
        return thread

    def _log(self, line: str) -> None:
        """Print, or keep a deployment thread's line (named by its thread) until `deployed`."""
        name = threading.current_thread().name
        if name.startswith("deploy-"):
            self.deferred.setdefault(name.removeprefix("deploy-"), []).append(line)
        else:
            print(line)

    def deployed(self, stage: str) -> None:
        """Wait for the stage's deployments; without a provider, fall back to the stand-in."""
        if self.deployer is None:
            return
        try:
            queued = self.queued.pop(stage, None)
            if queued is not None:
                queued.join()
            for line in self.deferred.pop(stage, []):
                print(line)
            if stage in self.queue_errors:
                raise self.queue_errors.pop(stage)
            self.deployer.wait(stage)
        except ProviderUnavailable:
            print(
                "  terraform could not install hashicorp/aws (no mirror on this machine, no"
                " registry): the demo deploys with its boto3 stand-in (testbed/deploy.py)"
            )
            # Every stage still deploying falls back too (they lack the same provider).
            for queued in self.queued.values():
                queued.join()
            pending = [stage, *self.deployer.running, *self.queued]
            self.queued.clear()
            self.queue_errors.clear()
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
    config, tfvars = story.configs["pre-prod"], story.tfvars["pre-prod"]
    story.labelled = seed.sample_input(story.rows, labels=True)
    definition = REPO_ROOT / tfvars["pipeline_definition_file"]
    scored = score_locally(story, config, definition, tfvars["model_package_arn"])
    scored.predictions.to_csv(story.output_dir / "predictions.csv", index=False)
    story.succeeded = len(scored.predictions) == story.rows
    image = seed.sklearn_image(config.region)
    story.accuracies.append(
        ("scikit-learn, script mode", short_image(image), f"{scored.accuracy:.1%}")
    )
    story.facts += [
        ("rows scored", f"{len(scored.predictions)} of {story.rows} -> {scored.folder}"),
        (
            "accuracy",
            f"{scored.accuracy:.1%} against the held-out labels ({scored.distinct} "
            f"distinct rows, {scored.rows} predictions)",
        ),
        ("predictions", str(story.output_dir / "predictions.csv")),
    ]


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
    running = [stage for stage in ("pre-prod", "prod") if story.deploying(stage)]
    if running:
        print(f"  first, terraform apply must end ({', '.join(running)}): {TERRAFORM_WAIT}")
    started = time.perf_counter()
    story.deployed("pre-prod")
    story.deployed("prod")
    story.terraform_wait = time.perf_counter() - started
    if running:
        print(f"  (waited {story.terraform_wait:.1f} s for Terraform)")
    print("$ python build.py --stage pre-prod --status")
    code = build.main(["--stage", "pre-prod", "--status",
                       "--target-role-arn", role_arn(config.account_id)])  # fmt: skip
    story.succeeded &= code == 0


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
    # These two need no Terraform: they run while the stages' deployments finish.
    Phase("A second kind: built-in XGBoost on the same rows", kinds.xgboost_model),
    Phase("An own container from the dev ECR, pre-prod then prod", kinds.own_container),
    Phase("Status of pre-prod", show_status),
]
