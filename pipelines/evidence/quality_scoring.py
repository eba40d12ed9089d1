"""Score one evaluation input with one version in a stage (the champion/challenger runs).

Remote: the stage's deployed pipeline with ``ModelName`` switched; a version whose model is gone
(replaced when its successor was deployed) gets a temporary model of its stage package, deleted
when its run ends. Local: the rendered definition with pipelines.local. A scorer starts a run and
returns a call that waits for it, so both versions run side by side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from pipelines.definition import execution, layout
from pipelines.definition.pipeline import pipeline_name_for
from promotion.config import StageConfig
from promotion.package import model_identity, model_name_for

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

WAIT_TIMEOUT_SECONDS = 3 * 3600
# (version, package ARN, output URL) -> a call that waits for the scoring to end and returns
# its failure (None when it succeeded).
Scores = Callable[[int, str, str], Callable[[], str | None]]


def remote_scorer(
    session: boto3.Session, config: StageConfig, input_url: str, *, sleep: Callable[[float], None]
) -> Scores:
    """Score with the deployed pipeline; a version without a model gets a temporary one."""
    sm = session.client("sagemaker")
    pipeline = pipeline_name_for(config)

    def score(version: int, package_arn: str, output_url: str) -> Callable[[], str | None]:
        group, identity = config.model_package_group_name, model_identity(config, package_arn)
        name = model_name_for(group, config.stage, version, identity)
        temporary = None
        if not any(m["ModelName"] == name for m in sm.list_models(NameContains=name)["Models"]):
            temporary = model_name_for(group, f"{config.stage}-cmp", version, identity)
            create_temporary_model(sm, config, temporary, package_arn)
        parameters = {
            "ModelName": temporary or name,
            "InputDataUrl": input_url,
            "OutputDataUrl": output_url,
        }
        try:
            arn = execution.start(sm, pipeline_name=pipeline, parameters=parameters)
        except BaseException:
            if temporary:
                sm.delete_model(ModelName=temporary)
            raise

        def finish() -> str | None:
            try:
                status, reason = execution.wait(
                    sm, execution_arn=arn, timeout=WAIT_TIMEOUT_SECONDS, sleep=sleep
                )
            finally:
                if temporary:
                    sm.delete_model(ModelName=temporary)
            return None if status == "Succeeded" else f"version {version}: {status} ({reason})"

        return finish

    return score


def create_temporary_model(
    sm: SageMakerClient, config: StageConfig, name: str, package_arn: str
) -> None:
    """A model of ``package_arn`` as the stage's Terraform makes one (role, VPC, tags)."""
    extra: dict[str, Any] = {}
    if config.vpc_config:
        extra["VpcConfig"] = {
            "Subnets": list(config.vpc_config.subnet_ids),
            "SecurityGroupIds": list(config.vpc_config.security_group_ids),
        }
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"ModelPackageName": package_arn},
        ExecutionRoleArn=config.sagemaker_execution_role_arn,
        # The tags Terraform's default_tags give the stage's models: the compare statements
        # allow creating and deleting only models tagged with this group.
        Tags=[
            {"Key": "ModelPackageGroup", "Value": config.model_package_group_name},
            {"Key": "Stage", "Value": config.stage},
        ],
        **extra,
    )


def local_scorer(session: boto3.Session, definition_path: Path, input_url: str) -> Scores:
    """Score with the rendered definition on this machine (pipelines.local)."""
    from pipelines.local import RunOptions, run_definition

    definition = json.loads(definition_path.read_text(encoding="utf-8"))
    options = RunOptions(expected_features=layout.definition_feature_columns(definition))

    def score(version: int, package_arn: str, output_url: str) -> Callable[[], str | None]:
        parameters = {
            "ModelName": f"compare-local-v{version}",  # no such model: the package is used
            "InputDataUrl": input_url,
            "OutputDataUrl": output_url,
        }
        result = run_definition(
            definition, parameters=parameters, session=session, model_package_arn=package_arn,
            log=lambda _line: None, options=options,
        )  # fmt: skip
        reasons = "; ".join(s.failure_reason or "" for s in result.steps if s.failure_reason)
        failure = None if result.status == "Succeeded" else f"version {version}: {reasons}"
        return lambda: failure

    return score
