"""What `terraform apply` does to the SageMaker side of a stage, done with boto3 on local AWS.

The demo and the tests have no Terraform provider pointed at moto; this creates the same model,
pipeline and schedule (names and parameters as batch-config-template.tf) so `build.py --status`
and `run_pipeline` see a deployed stage.
"""

from __future__ import annotations

from typing import Any

import boto3

from pipelines.status import schedule_name_for
from promotion.config import REPO_ROOT, StageConfig


def _names(sm: Any, lister: str, key: str, field: str) -> set[str]:
    return {item[field] for item in getattr(sm, lister)()[key]}


def apply_stage(session: boto3.Session, config: StageConfig, tfvars: dict[str, Any]) -> None:
    """Create or update the stage's model, pipeline and schedule from build.py's outputs."""
    sm = session.client("sagemaker")
    model_name, pipeline_name = tfvars["model_name"], tfvars["pipeline_name"]
    role = config.sagemaker_execution_role_arn
    if model_name not in _names(sm, "list_models", "Models", "ModelName"):
        sm.create_model(
            ModelName=model_name,
            ExecutionRoleArn=role,
            PrimaryContainer={"ModelPackageName": tfvars["model_package_arn"]},
        )
    # Relative to the repository root, as Terraform reads it (an absolute path stays as is).
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
    arn = f"arn:aws:sagemaker:{config.region}:{config.account_id}:pipeline/{pipeline_name}"
    parameters = {"ModelName": model_name, "InputDataUrl": config.input_data_url,
                  "OutputDataUrl": config.output_data_url}  # fmt: skip
    request: dict[str, Any] = {
        "Name": name,
        "GroupName": name,
        "ScheduleExpression": config.schedule_expression,
        "ScheduleExpressionTimezone": config.schedule_timezone,
        "State": "ENABLED" if config.schedule_enabled else "DISABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": arn,
            "RoleArn": f"arn:aws:iam::{config.account_id}:role/{name}-scheduler",
            "SageMakerPipelineParameters": {
                "PipelineParameterList": [{"Name": k, "Value": v} for k, v in parameters.items()]
            },
        },
    }
    existing = {s["Name"] for s in scheduler.list_schedules(GroupName=name)["Schedules"]}
    if name in existing:
        scheduler.update_schedule(**request)
    else:
        scheduler.create_schedule(**request)
