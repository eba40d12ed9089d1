"""Two models in one stage account: their deploy roles (holding exactly the rendered templates)
and the resources the stage module (batch-config-template.tf) gives each.

`deploy_with_terraform` applies the stage root (stage-root/main.tf, calling the stage module) for
one model as that model's deploy role, under IAM enforcement, with the real Terraform.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from promotion.config import StageConfig
from testbed.iam_policies import (
    MODULE_ALARM_SUFFIXES,
    module_name,
    name_prefix,
    policy_variables,
    role_documents,
    role_specs,
)
from testbed.iam_world import Role, _create_role, accounts_for
from testbed.local_aws import account_session
from testbed.terraform import Terraform, stage_root
from tests.terraform.conftest import FIXTURE_DEFINITION, REPO_ROOT, deployment_tfvars_for
from utils import new_session

DEPLOY_ROLE = "deploy-pre-prod"
SCHEDULE_TARGET = "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
FAILED_PATTERN = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
}


@dataclass(frozen=True)
class Module:
    """One model's stage resources (the root module's outputs), and bootstrap's aliases."""

    group: str
    pipeline: str
    model: str
    schedule: str  # its group has the same name
    scheduler_role: str
    queue_url: str
    key_arn: str
    alias: str
    topic_arn: str
    rule: str
    alarms: tuple[str, ...]
    dashboard: str
    database: str
    bootstrap_aliases: tuple[str, ...]
    boundary_arn: str


def stage_config_for(config: StageConfig, group: str) -> StageConfig:
    """The pre-prod stage file of another model (only its group differs)."""
    return config.model_copy(update={"model_package_group_name": group})


def deploy_role(config: StageConfig) -> Role:
    """The model's pre-prod deploy role with exactly its rendered templates (as an admin)."""
    spec = role_specs()[DEPLOY_ROLE]
    variables = policy_variables(config, accounts_for(config))
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"AWS": f"arn:aws:iam::{config.account_id}:root"}}],
    }  # fmt: skip
    documents = role_documents(spec, variables, dev_artifacts_key=False)
    name = f"{name_prefix(config.model_package_group_name)}-{DEPLOY_ROLE}"
    return _create_role(config.account_id, name, trust, documents)


def bootstrap_keys(kms: Any, config: StageConfig) -> tuple[str, ...]:
    """Bootstrap's artifacts and state keys, tagged as bootstrap/stage tags them."""
    prefix = name_prefix(config.model_package_group_name)
    tags = [{"TagKey": "Stage", "TagValue": config.stage},
            {"TagKey": "ManagedBy", "TagValue": "bootstrap/stage"}]  # fmt: skip
    aliases = []
    for purpose in ("artifacts", "tfstate"):
        key = kms.create_key(Tags=tags)["KeyMetadata"]["KeyId"]
        alias = f"alias/{prefix}-{purpose}-{config.stage}"
        kms.create_alias(AliasName=alias, TargetKeyId=key)
        aliases.append(alias)
    return tuple(aliases)


def _schedule(name: str, config: StageConfig, role_name: str) -> dict[str, Any]:
    return {
        "Name": name, "GroupName": name, "ScheduleExpression": "rate(1 day)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": SCHEDULE_TARGET, "Input": "{}",
                   "RoleArn": f"arn:aws:iam::{config.account_id}:role/{role_name}"},
    }  # fmt: skip


def _alarm(name: str, topic_arn: str) -> dict[str, Any]:
    return {
        "AlarmName": name, "Namespace": "BatchInference", "MetricName": "InputSkipped",
        "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "AlarmActions": [topic_arn],
    }  # fmt: skip


def role_session(role: Role, region: str) -> boto3.Session:
    """A session with the role's credentials (enforcement decides what it may do)."""
    return new_session(
        aws_access_key_id=role.credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=role.credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=role.credentials["AWS_SESSION_TOKEN"],
        region_name=region,
    )


def deploy_with_terraform(
    config: StageConfig, boundary_arn: str, role: Role, terraform: Terraform, work: Path,
    endpoint: str,
) -> dict[str, Any]:  # fmt: skip
    """`terraform apply` of the stage root for one model, by that model's own deploy role;
    returns `terraform output`.

    Run it with IAM enforced (`enforced()`): every request of the provider is then authorized
    against exactly the role's rendered templates. Local state; build.py's outputs made up.
    """
    group = config.model_package_group_name
    values = config.model_dump(mode="json")
    values["permissions_boundary_arn"] = boundary_arn
    stage_file = work / f"{group}-{config.stage}-config.tfvars.json"
    stage_file.write_text(json.dumps(values), encoding="utf-8")
    root = stage_root(
        work / group, REPO_ROOT, stage=config.stage, config=stage_file,
        deployment=deployment_tfvars_for(values), definition=FIXTURE_DEFINITION, endpoint=endpoint,
    )  # fmt: skip
    env = {**role.credentials, "AWS_REGION": config.region, "AWS_DEFAULT_REGION": config.region}
    terraform.run(["init", "-input=false", "-no-color", "-lockfile=readonly"], cwd=root, env=env)
    terraform.run(["apply", "-auto-approve", "-input=false", "-no-color",
                   f"-var=stage={config.stage}"], cwd=root, env=env)  # fmt: skip
    shown = terraform.run(["output", "-json"], cwd=root, env=env).stdout
    return {key: item["value"] for key, item in json.loads(shown).items()}


def plan_next_version(
    config: StageConfig, role: Role, terraform: Terraform, work: Path
) -> dict[str, list[str]]:
    """`terraform plan` of the next promotion (source version 4, its own model) over the stage
    root `deploy_with_terraform` applied (source version 3), by the model's deploy role: the
    plan a reviewer reads, as each changing resource's address and actions. Run it with IAM
    enforced."""
    root = work / config.model_package_group_name
    build = root / "build" / config.stage
    applied = json.loads((build / "deployment.tfvars.json").read_text(encoding="utf-8"))
    group = config.model_package_group_name
    following = {
        **applied,
        "model_package_arn": applied["model_package_arn"].rsplit("/", 1)[0] + "/2",
        "source_model_package_arn": applied["source_model_package_arn"].rsplit("/", 1)[0] + "/4",
        "source_model_package_version": 4,
        "model_name": f"{group}-{config.stage}-v4",
    }
    (build / "next.tfvars.json").write_text(json.dumps(following), encoding="utf-8")
    env = {**role.credentials, "AWS_REGION": config.region, "AWS_DEFAULT_REGION": config.region}
    terraform.run(["plan", "-input=false", "-no-color", "-out=next.tfplan",
                   f"-var=stage={config.stage}",
                   f"-var=deployment_file=build/{config.stage}/next.tfvars.json"],
                  cwd=root, env=env)  # fmt: skip
    shown = json.loads(terraform.run(["show", "-json", "next.tfplan"], cwd=root, env=env).stdout)
    return {
        change["address"]: change["change"]["actions"]
        for change in shown["resource_changes"]
        if change["mode"] == "managed" and change["change"]["actions"] != ["no-op"]
    }


def destroy_with_terraform(
    config: StageConfig, role: Role, terraform: Terraform, work: Path
) -> str:
    """`terraform destroy` of one model's stage root (applied by `deploy_with_terraform`), by
    that model's deploy role; returns Terraform's output. Run it with IAM enforced."""
    root = work / config.model_package_group_name
    env = {**role.credentials, "AWS_REGION": config.region, "AWS_DEFAULT_REGION": config.region}
    done = terraform.run(["destroy", "-auto-approve", "-input=false", "-no-color",
                          f"-var=stage={config.stage}"], cwd=root, env=env)  # fmt: skip
    return str(done.stdout)


def module_of(config: StageConfig, boundary_arn: str, outputs: dict[str, Any]) -> Module:
    """The deployed module's names (as an administrator: the alerts key's ARN), with
    bootstrap's keys created beside it."""
    group = config.model_package_group_name
    pipeline = outputs["sagemaker_pipeline_name"]
    name = module_name(pipeline)
    session = account_session(config.account_id, config.region)
    alias = f"alias/{name}-alerts"
    key_arn = session.client("kms").describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    return Module(
        group, pipeline, outputs["sagemaker_model_name"], outputs["scheduler_schedule_name"],
        f"{name}-scheduler", outputs["scheduler_dead_letter_queue_url"], key_arn, alias,
        outputs["sns_topic_arn"], f"{name}-failed",
        tuple(f"{name}-{suffix}" for suffix in MODULE_ALARM_SUFFIXES),
        outputs["cloudwatch_dashboard_name"], outputs["glue_results_database_name"],
        bootstrap_keys(session.client("kms"), config), boundary_arn,
    )  # fmt: skip
