"""The IAM-enforced test world: three moto accounts whose roles hold exactly the shipped policies.

Setup runs with enforcement off (as an administrator would apply bootstrap/); every flow then runs
inside `enforced()` with the credentials of one role, as the GitHub job or SageMaker would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import requests

from promotion.config import StageConfig, default_config_path, load_stage_config, parse_s3_url
from promotion.images import stage_repository
from testbed import seed
from testbed.iam_policies import (
    Accounts,
    RoleSpec,
    name_prefix,
    policy_variables,
    render,
    role_documents,
    role_specs,
    state_bucket,
)
from testbed.local_aws import (
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    PROD_ACCOUNT,
    account_session,
    create_bucket,
)

DEV_ARTIFACTS_BUCKET = f"ml-artifacts-{DEV_ACCOUNT}"
DEV_ARTIFACTS_PREFIX = "training/"
DEV_IMAGE_REPOSITORY = "serving/own-container"  # the team's repository in dev (bootstrap settings)
OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_REPOSITORY = "example-org/batch-inference"
STAGE_ACCOUNTS = {"pre-prod": PRE_PROD_ACCOUNT, "prod": PROD_ACCOUNT}
EXECUTION = "execution"  # key of the SageMaker execution roles in World.roles
ADMIN_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass(frozen=True)
class Role:
    """A role of the world: where it lives, its policies, and credentials of one session."""

    account_id: str
    name: str
    documents: dict[str, dict[str, Any]]
    credentials: dict[str, str] = field(repr=False)

    @property
    def arn(self) -> str:
        """The role's ARN."""
        return f"arn:aws:iam::{self.account_id}:role/{self.name}"


@dataclass
class World:
    """Everything the flows need; `roles` is keyed by roles.json name (and `execution-<stage>`)."""

    endpoint: str
    configs: dict[str, StageConfig]
    roles: dict[str, Role]
    source_arns: list[str]
    scratch: Path

    @contextmanager
    def admin(self, account_id: str) -> Iterator[boto3.Session]:
        """An administrator's session in one account (enforcement must be off)."""
        with mock.patch.dict(os.environ, {**ADMIN_ENVIRONMENT, "AWS_ENDPOINT_URL": self.endpoint}):
            yield account_session(account_id)

    def put_policy(self, role: str, template: str, document: Mapping[str, Any]) -> None:
        """Replace one inline policy of a role; without statements, remove it (IAM refuses a
        policy with none)."""
        target = self.roles[role]
        with self.admin(target.account_id) as session:
            iam = session.client("iam")
            if not document["Statement"]:
                iam.delete_role_policy(RoleName=target.name, PolicyName=template)
                return
            iam.put_role_policy(
                RoleName=target.name, PolicyName=template, PolicyDocument=json.dumps(document)
            )


def accounts_for(config: StageConfig) -> Accounts:
    """The bootstrap outputs of one stage as the world fakes them (names only: moto has no KMS
    enforcement)."""
    account, region = config.account_id, config.region
    prefix = name_prefix(config.model_package_group_name)
    return Accounts(
        dev_artifacts_bucket=DEV_ARTIFACTS_BUCKET,
        dev_artifacts_prefix=DEV_ARTIFACTS_PREFIX,
        dev_artifacts_kms_key_arn=None,
        artifacts_kms_key_arn=f"arn:aws:kms:{region}:{account}:key/artifacts",
        state_bucket=state_bucket(config.model_package_group_name, account),
        state_key=f"batch-inference/{config.stage}.tfstate",
        state_kms_key_arn=f"arn:aws:kms:{region}:{account}:key/state",
        permissions_boundary_arn=f"arn:aws:iam::{account}:policy/{prefix}-boundary-{config.stage}",
        dev_image_repositories=(DEV_IMAGE_REPOSITORY,),
    )


def trust_variables(spec: RoleSpec, configs: Mapping[str, StageConfig]) -> dict[str, Any]:
    """Variables of the trust templates: mirrors bootstrap/dev and bootstrap/stage."""
    account = DEV_ACCOUNT if spec.account == "dev" else STAGE_ACCOUNTS[spec.account]
    specs = role_specs()
    group = configs["pre-prod"].model_package_group_name
    readers = [s for s in specs.values() if s.account != "dev" and s.reads_dev_artifacts]
    return {
        "oidc_provider_arn": f"arn:aws:iam::{account}:oidc-provider/{OIDC_HOST}",
        "github_subject": f"repo:{GITHUB_REPOSITORY}:{spec.github_subject}",
        "stage_account_roots": sorted(
            {f"arn:aws:iam::{STAGE_ACCOUNTS[s.account]}:root" for s in readers}
        ),
        "stage_role_arns": sorted(
            f"arn:aws:iam::{STAGE_ACCOUNTS[s.account]}:role/{name_prefix(group)}-{s.name}"
            for s in readers
        ),
    }


def _credentials(role_arn: str) -> dict[str, str]:
    sts = boto3.client("sts", region_name="us-east-1")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="github-actions")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def _create_role(
    account_id: str,
    name: str,
    trust: Mapping[str, Any],
    documents: dict[str, dict[str, Any]],
) -> Role:
    iam = account_session(account_id).client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    for template, document in documents.items():
        iam.put_role_policy(RoleName=name, PolicyName=template, PolicyDocument=json.dumps(document))
    arn = f"arn:aws:iam::{account_id}:role/{name}"
    return Role(account_id, name, documents, _credentials(arn))


def build_world(endpoint: str, scratch: Path) -> World:
    """Create roles, buckets and two Approved source versions; enforcement must be off."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    configs = {stage: load_stage_config(default_config_path(stage)) for stage in STAGE_ACCOUNTS}
    group = configs["pre-prod"].model_package_group_name
    prefix = name_prefix(group)
    dev = account_session(DEV_ACCOUNT)
    create_bucket(dev, DEV_ARTIFACTS_BUCKET)
    source_arns = seed.register_versions(
        dev, group=group, bucket=DEV_ARTIFACTS_BUCKET, statuses=("Approved", "Approved")
    )
    roles: dict[str, Role] = {}
    for stage, config in configs.items():
        session = account_session(config.account_id, config.region)
        for bucket in {config.artifacts_bucket, parse_s3_url(config.input_data_url)[0]}:
            create_bucket(session, bucket)
        variables = policy_variables(config, accounts_for(config))
        execution_name = config.sagemaker_execution_role_arn.rsplit("/", 1)[-1]
        roles[f"{EXECUTION}-{stage}"] = _create_role(
            config.account_id,
            execution_name,
            render("sagemaker-trust", variables),
            {"execution": render("execution", variables)},
        )
    create_image_repositories(configs)
    for spec in role_specs().values():
        config = configs["pre-prod" if spec.account == "dev" else spec.account]
        variables = policy_variables(config, accounts_for(config))
        account = DEV_ACCOUNT if spec.account == "dev" else config.account_id
        trust_template = "registry-reader-trust" if spec.account == "dev" else "github-trust"
        roles[spec.name] = _create_role(
            account,
            f"{prefix}-{spec.name}",
            render(trust_template, trust_variables(spec, configs)),
            role_documents(spec, variables, dev_artifacts_key=False),
        )
    return World(endpoint, configs, roles, source_arns, scratch)


def dev_image_repository_policy(configs: Mapping[str, StageConfig]) -> dict[str, Any]:
    """The dev image repository's policy, as bootstrap/dev renders it."""
    reader = next(spec for spec in role_specs().values() if spec.account == "dev")
    return render("dev-image-repository", trust_variables(reader, configs))


def create_stage_image_repository(config: StageConfig) -> None:
    """The stage's model image repository, as bootstrap/stage creates it (tags immutable)."""
    ecr = account_session(config.account_id, config.region).client("ecr")
    ecr.create_repository(
        repositoryName=stage_repository(config.model_package_group_name),
        imageTagMutability="IMMUTABLE",
    )


def create_image_repositories(configs: Mapping[str, StageConfig]) -> None:
    """The team's repository in dev with the policy bootstrap/dev sets on it, and each stage's
    model image repository."""
    ecr = account_session(DEV_ACCOUNT, configs["pre-prod"].region).client("ecr")
    ecr.create_repository(repositoryName=DEV_IMAGE_REPOSITORY)
    ecr.set_repository_policy(
        repositoryName=DEV_IMAGE_REPOSITORY,
        policyText=json.dumps(dev_image_repository_policy(configs)),
    )
    for config in configs.values():
        create_stage_image_repository(config)


@contextmanager
def as_role(world: World, role: str, monkeypatch: Any) -> Iterator[Role]:
    """Point boto3 at the world with the credentials of `role` (a monkeypatch scope)."""
    target = world.roles[role]
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.endpoint)
    for key, value in target.credentials.items():
        monkeypatch.setenv(key, value)
    yield target


def reset_stage(world: World, stage: str) -> None:
    """Forget a stage's promotions: its packages, group, artifact and image copies.

    The registry is cleared in moto's backend: moto's DeleteModelPackage answers 500.
    """
    from moto.sagemaker.models import sagemaker_backends

    config = world.configs[stage]
    backend = sagemaker_backends[config.account_id][config.region]
    backend.model_packages.clear()
    backend.model_package_groups.clear()
    with world.admin(config.account_id) as session:
        s3 = session.client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config.artifacts_bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=config.artifacts_bucket, Key=item["Key"])
        repository = stage_repository(config.model_package_group_name)
        session.client("ecr").delete_repository(repositoryName=repository, force=True)
        create_stage_image_repository(config)
