"""The demo's `terraform apply`: the real Terraform on the embedded AWS, or a stand-in said plainly.

Each stage gets its own copy of the stage root (stage-root/main.tf, laid out as a model
repository holds it: testbed/terraform.py `stage_root`) below the demo's output directory, with
local state, the provider pointed at the embedded AWS and the stage module read from this checkout,
and is deployed with the stage file and build.py's `deployment.tfvars.json`: `terraform init`,
then one `terraform apply -auto-approve`. The workflow plans, shows the plan and applies that
saved plan, three commands for a reviewer's sake; one command plans and applies the same here, and
every Terraform command costs seconds of CPU starting the AWS provider (docs/benchmarks.md, "make
test"). A deployment runs in the background while the story goes on; `wait` joins it and prints
the plan's summary (resources to add, change, destroy).
When Terraform cannot install the AWS provider (no mirror on this machine and no registry), the
demo says so and creates the model, the pipeline and the schedule with boto3 instead
(`apply_with_boto3`, names and parameters as batch-config-template.tf).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from pipelines.status import schedule_name_for
from promotion.config import REPO_ROOT, StageConfig, default_config_path
from testbed.local_aws import credentials_environment
from testbed.terraform import Terraform, TerraformError, setup, stage_root, stage_root_files

NO_PROVIDER = "no provider"
INIT = ["init", "-input=false", "-no-color", "-lockfile=readonly"]
_PLAN_LINE = re.compile(r"Plan: (\d+ to add, \d+ to change, \d+ to destroy)")
# What `terraform init` says when it cannot get the provider (offline, no mirror).
PROVIDER_MISSING = ("Failed to query available provider packages", "Failed to install provider")


@dataclass
class Deployment:
    """One stage's plan and apply, running in a thread."""

    stage: str
    thread: threading.Thread
    started: float
    summary: str = ""
    error: str = ""


@dataclass
class Deployer:
    """Deploys the demo's stages with the real Terraform, one background deployment per stage."""

    work: Path
    endpoint: str
    log: Callable[[str], None] = print
    environ: Mapping[str, str] | None = None  # where to look for a provider mirror
    terraform: Terraform | None = None
    running: dict[str, Deployment] = field(default_factory=dict)
    preparing: dict[str, threading.Thread] = field(default_factory=dict)
    initialised: set[str] = field(default_factory=set)  # stages whose root `terraform init` made

    def __post_init__(self) -> None:
        self.terraform = setup(self.work / "terraform-cli", self.environ or os.environ)

    def prepare(self, stage: str, session: boto3.Session) -> None:
        """Lay out `stage`'s root and run `terraform init` in the background, before any build
        output exists: the first apply then starts at its plan (init's seconds leave the path
        that the story waits for). A failed init is left for `start`, which runs it again and
        reports it."""
        config = default_config_path(stage)
        root = stage_root_files(
            self.work / stage, REPO_ROOT, stage=stage, config=config, endpoint=self.endpoint
        )
        env = credentials_environment(session)

        def init() -> None:
            assert self.terraform is not None
            with contextlib.suppress(TerraformError):
                self.terraform.run(INIT, cwd=root, env=env, check=True)
                self.initialised.add(stage)

        thread = threading.Thread(target=init, name=f"init-{stage}", daemon=True)
        self.preparing[stage] = thread
        thread.start()

    def start(self, stage: str, session: boto3.Session, tfvars: Mapping[str, Any]) -> None:
        """Begin deploying `stage` with build.py's `tfvars` (after its previous deployment,
        which it waits for)."""
        self.wait(stage)
        preparing = self.preparing.pop(stage, None)
        if preparing is not None:
            preparing.join()
        definition = Path(tfvars["pipeline_definition_file"])
        # This deployment's own copies: the story's next build may rewrite build/<stage>/.
        root = stage_root(
            self.work / stage, REPO_ROOT, stage=stage, config=default_config_path(stage),
            deployment=tfvars, endpoint=self.endpoint,
            definition=definition if definition.is_absolute() else REPO_ROOT / definition,
        )  # fmt: skip
        env = credentials_environment(session)
        deployment = Deployment(stage, threading.Thread(target=lambda: None), time.monotonic())
        deployment.thread = threading.Thread(
            target=self._deploy, args=(deployment, root, env), daemon=True
        )
        self.running[stage] = deployment
        self.log(f"$ terraform apply -auto-approve -var=stage={stage}   (in the background)")
        deployment.thread.start()

    def _deploy(self, deployment: Deployment, root: Path, env: dict[str, str]) -> None:
        assert self.terraform is not None
        try:
            if deployment.stage not in self.initialised:
                init = self.terraform.run(INIT, cwd=root, env=env, check=False)
                if init.returncode != 0:
                    missing = any(sign in init.stderr for sign in PROVIDER_MISSING)
                    deployment.error = NO_PROVIDER if missing else init.stderr
                    return
                self.initialised.add(deployment.stage)
            apply = ["apply", "-input=false", "-no-color", "-auto-approve",
                     f"-var=stage={deployment.stage}"]  # fmt: skip
            applied = self.terraform.run(apply, cwd=root, env=env)
            deployment.summary = plan_summary(applied.stdout)
        except TerraformError as error:
            deployment.error = str(error)

    def wait(self, stage: str) -> None:
        """Join the stage's deployment; print its plan summary; a failure ends the demo."""
        deployment = self.running.pop(stage, None)
        if deployment is None:
            return
        deployment.thread.join()
        if deployment.error == NO_PROVIDER:
            raise ProviderUnavailable(stage)
        if deployment.error:
            raise SystemExit(f"terraform ({stage}) failed: {deployment.error}")
        seconds = time.monotonic() - deployment.started
        self.log(f"  terraform ({stage}): {deployment.summary}; applied in {seconds:.0f} s")


class ProviderUnavailable(Exception):
    """Terraform could not install hashicorp/aws: no mirror here and no registry."""


def plan_summary(plan_output: str) -> str:
    """`N to add, N to change, N to destroy`, from the plan's last line, which apply prints too (a
    replace counts as both an add and a destroy there too)."""
    if "No changes." in plan_output:
        return "0 to add, 0 to change, 0 to destroy"
    found = _PLAN_LINE.search(plan_output)
    return found.group(1) if found else "plan summary not found"


def _names(sm: Any, lister: str, key: str, field: str) -> set[str]:
    return {item[field] for item in getattr(sm, lister)()[key]}


def apply_with_boto3(session: boto3.Session, config: StageConfig, tfvars: dict[str, Any]) -> None:
    """The stand-in: the stage's model, pipeline and schedule created or updated with boto3."""
    sm = session.client("sagemaker")
    model_name, pipeline_name = tfvars["model_name"], tfvars["pipeline_name"]
    role = config.sagemaker_execution_role_arn
    if model_name not in _names(sm, "list_models", "Models", "ModelName"):
        sm.create_model(
            ModelName=model_name,
            ExecutionRoleArn=role,
            PrimaryContainer={"ModelPackageName": tfvars["model_package_arn"]},
        )
    definition = (REPO_ROOT / tfvars["pipeline_definition_file"]).read_text()
    pipelines = _names(sm, "list_pipelines", "PipelineSummaries", "PipelineName")
    if pipeline_name in pipelines:
        sm.update_pipeline(PipelineName=pipeline_name, PipelineDefinition=definition, RoleArn=role)
    else:
        sm.create_pipeline(
            PipelineName=pipeline_name, PipelineDefinition=definition, RoleArn=role,
            ClientRequestToken=f"create-{pipeline_name}"[:128],
        )  # fmt: skip
    _apply_schedule(session, config, pipeline_name, model_name)


def _apply_schedule(
    session: boto3.Session, config: StageConfig, pipeline_name: str, model_name: str
) -> None:
    scheduler = session.client("scheduler")
    name = schedule_name_for(pipeline_name)
    groups = {g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]}
    if name not in groups:
        scheduler.create_schedule_group(Name=name)
    parameters = {"ModelName": model_name, "InputDataUrl": config.input_data_url,
                  "OutputDataUrl": config.output_data_url,
                  "ScheduledTime": "<aws.scheduler.scheduled-time>"}  # fmt: skip
    request: dict[str, Any] = {
        "Name": name,
        "GroupName": name,
        "ScheduleExpression": config.schedule_expression,
        "ScheduleExpressionTimezone": config.schedule_timezone,
        "State": "ENABLED" if config.schedule_enabled else "DISABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {  # a universal target, as batch-config-template.tf deploys it
            "Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution",
            "RoleArn": f"arn:aws:iam::{config.account_id}:role/{name}-scheduler",
            "Input": json.dumps(
                {
                    "PipelineName": pipeline_name,
                    "PipelineParameters": [{"Name": k, "Value": v} for k, v in parameters.items()],
                }
            ),
        },
    }
    existing = {s["Name"] for s in scheduler.list_schedules(GroupName=name)["Schedules"]}
    if name in existing:
        scheduler.update_schedule(**request)
    else:
        scheduler.create_schedule(**request)
