"""Two models in one stage account: their deploy roles (holding exactly the rendered templates)
and the resources batch-config-template.tf gives each, created as an administrator.

`deploy_as_admin` stands where a `terraform apply` of the root module (by an administrator, or by
the model's deploy role) will stand: it creates the same resources under the same names, with the
provider's default tags, and returns what `terraform output` would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from demo.local_aws import account_session
from promotion.config import StageConfig
from promotion.package import model_name_for
from tests.iam.policies import (
    MODULE_ALARM_SUFFIXES,
    module_name,
    name_prefix,
    policy_variables,
    role_documents,
    role_specs,
)
from tests.iam.world import Role, _create_role, accounts_for

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


def _tags(config: StageConfig) -> dict[str, str]:
    """The provider's default_tags (versions.tf, batch-config-template.tf local.tags)."""
    return {"Stage": config.stage, "ModelPackageGroup": config.model_package_group_name,
            "SourceModelPackageVersion": "1"}  # fmt: skip


def deploy_as_admin(config: StageConfig, boundary_arn: str) -> Module:
    """Create one model's module resources, named as batch-config-template.tf names them."""
    session = account_session(config.account_id, config.region)
    group, stage = config.model_package_group_name, config.stage
    pipeline = f"{group}-{stage}-batch-inference"
    name = module_name(pipeline)
    tags = _tags(config)
    key_value = [{"Key": k, "Value": v} for k, v in tags.items()]
    role = config.sagemaker_execution_role_arn

    sm: Any = session.client("sagemaker")
    model = model_name_for(group, stage, 1)
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=role,
        Tags=key_value,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x"},
    )
    sm.create_pipeline(
        PipelineName=pipeline,
        RoleArn=role,
        Tags=key_value,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
    )

    iam = session.client("iam")
    scheduler_role = f"{name}-scheduler"
    iam.create_role(
        RoleName=scheduler_role,
        PermissionsBoundary=boundary_arn,
        Tags=key_value,
        AssumeRolePolicyDocument=json.dumps(_service_trust("scheduler")),
    )

    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"{name}-schedule-dlq", tags=tags)["QueueUrl"]

    scheduler = session.client("scheduler")
    scheduler.create_schedule_group(Name=name, Tags=key_value)
    scheduler.create_schedule(**_schedule(name, config, scheduler_role))

    kms = session.client("kms")
    kms_tags = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
    key_arn = kms.create_key(Tags=kms_tags)["KeyMetadata"]["Arn"]
    alias = f"alias/{name}-alerts"
    kms.create_alias(AliasName=alias, TargetKeyId=key_arn)
    bootstrap_aliases = _bootstrap_keys(kms, config)

    sns = session.client("sns")
    topic_arn = sns.create_topic(Name=f"{name}-alerts", Tags=key_value)["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint="alerts@example.com")

    events = session.client("events")
    rule = f"{name}-failed"
    events.put_rule(Name=rule, EventPattern=json.dumps(FAILED_PATTERN), Tags=key_value)
    events.put_targets(Rule=rule, Targets=[{"Id": "alerts-topic", "Arn": topic_arn}])

    cloudwatch = session.client("cloudwatch")
    alarms = tuple(f"{name}-{suffix}" for suffix in MODULE_ALARM_SUFFIXES)
    for alarm in alarms:
        cloudwatch.put_metric_alarm(**_alarm(alarm, topic_arn))
    cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps({"widgets": []}))

    database = "".join(c if c.isalnum() or c == "_" else "_" for c in name.lower())
    session.client("glue").create_database(DatabaseInput={"Name": database})
    return Module(group, pipeline, model, name, scheduler_role, queue_url, key_arn, alias,
                  topic_arn, rule, alarms, name, database, bootstrap_aliases,
                  boundary_arn)  # fmt: skip


def _bootstrap_keys(kms: Any, config: StageConfig) -> tuple[str, ...]:
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


def _service_trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": f"{service}.amazonaws.com"}}],
    }  # fmt: skip


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
    return boto3.Session(
        aws_access_key_id=role.credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=role.credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=role.credentials["AWS_SESSION_TOKEN"],
        region_name=region,
    )
