"""The shipped IAM policy documents, rendered exactly as Terraform's `templatefile` renders them.

The templates under bootstrap/policies/ are the ONE definition of every permission. Terraform
renders them with `templatefile(path, local.policy_vars)`; the tests render them here with the same
variable names. Only the two forms the templates use are supported: `${name}` (a string inside a
JSON string) and `${jsonencode(name)}` (any JSON value); anything else is refused, so a template
cannot silently mean one thing to Terraform and another to the tests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promotion.config import StageConfig, parse_s3_url
from promotion.images import stage_repository

REPO_ROOT = Path(__file__).resolve().parents[1]
POLICIES_DIR = REPO_ROOT / "bootstrap" / "policies"
ROLES_FILE = POLICIES_DIR / "roles.json"
TEMPLATE_SUFFIX = ".json.tftpl"
DEV_ARTIFACTS_KEY_POLICY = "dev-artifacts-key"
DEV_IMAGES_POLICY = "dev-images"  # inline, on the roles that promote, when repositories are listed
AWS_IMAGE_REGISTRIES = POLICIES_DIR / "aws-image-registries.json"
_PLACEHOLDER = re.compile(r"\$\{(?:jsonencode\((\w+)\)|(\w+))\}")
_ANY_TEMPLATE_SYNTAX = re.compile(r"[$%]\{")


def template_path(name: str) -> Path:
    """The file of one policy template."""
    return POLICIES_DIR / f"{name}{TEMPLATE_SUFFIX}"


def placeholders(name: str) -> set[str]:
    """The variable names a template uses."""
    text = template_path(name).read_text(encoding="utf-8")
    return {m.group(1) or m.group(2) for m in _PLACEHOLDER.finditer(text)}


def render(name: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Render one template to a policy document (a dict), as `templatefile` + `jsondecode` do.

    Raises:
        KeyError: the template uses a variable that is not given.
        ValueError: the template uses syntax this renderer does not support.
    """
    text = template_path(name).read_text(encoding="utf-8")

    def substitute(match: re.Match[str]) -> str:
        encoded, plain = match.group(1), match.group(2)
        value = variables[encoded or plain]
        if encoded:
            return json.dumps(value)
        if not isinstance(value, str) or '"' in value or "\\" in value:
            raise ValueError(f"{name}: ${{{plain}}} must be a plain string, got {value!r}")
        return value

    rendered = _PLACEHOLDER.sub(substitute, text)
    if _ANY_TEMPLATE_SYNTAX.search(rendered):
        raise ValueError(f"{name}: unsupported template syntax left after rendering")
    document: dict[str, Any] = json.loads(rendered)
    return document


@dataclass(frozen=True)
class RoleSpec:
    """One role of bootstrap/policies/roles.json."""

    account: str  # "dev" or a stage name
    name: str  # the role name's suffix after the name prefix
    description: str
    github_subject: str
    policies: tuple[str, ...]
    created_package_status: str
    reads_dev_artifacts: bool


def role_specs() -> dict[str, RoleSpec]:
    """Every role bootstrap creates for GitHub, by name suffix."""
    raw = json.loads(ROLES_FILE.read_text(encoding="utf-8"))
    return {
        name: RoleSpec(
            account=account,
            name=name,
            description=spec["description"],
            github_subject=spec["github_subject"],
            policies=tuple(spec["policies"]),
            created_package_status=spec.get("created_package_status", ""),
            reads_dev_artifacts=spec["reads_dev_artifacts"],
        )
        for account, roles in raw.items()
        for name, spec in roles.items()
    }


def name_prefix(group: str) -> str:
    """The prefix of every bootstrap role name: Terraform's `local.name_prefix`."""
    return group[:32].rstrip("-")


def state_bucket(group: str, account_id: str) -> str:
    """The state bucket bootstrap creates in an account: bootstrap/modules/naming's
    `bucket_prefix` (the name prefix lower cased: S3 bucket names are) and the account id."""
    return f"{name_prefix(group).lower()}-tfstate-{account_id}"


def module_name(pipeline_name: str) -> str:
    """The base of the root module's derived names: Terraform's `local.name` (and bootstrap's
    `local.module_name`), the pipeline name or its first 45 characters and a hash."""
    if len(pipeline_name) <= 54:
        return pipeline_name
    return f"{pipeline_name[:45]}-{hashlib.sha256(pipeline_name.encode()).hexdigest()[:8]}"


MODULE_ALARM_SUFFIXES = (
    "execution-failed",
    "schedule-dlq-not-empty",
    "data-quality",
    "input-skipped",
)


def role_policy_names(
    spec: RoleSpec, *, dev_artifacts_key: bool, dev_images: bool = False
) -> tuple[str, ...]:
    """The templates a role holds: its own list, plus the dev key when the artifacts use one, and
    the dev image repositories' read when the bootstrap settings list some."""
    extra: tuple[str, ...] = ()
    if dev_artifacts_key and spec.reads_dev_artifacts:
        extra += (DEV_ARTIFACTS_KEY_POLICY,)
    stage_reader = spec.reads_dev_artifacts and spec.account != "dev"  # bootstrap/stage/images.tf
    extra += (DEV_IMAGES_POLICY,) if dev_images and stage_reader else ()
    return spec.policies + extra


@dataclass(frozen=True)
class Accounts:
    """The bootstrap-specific settings (bootstrap/settings.tfvars.json) and derived ARNs."""

    dev_artifacts_bucket: str
    dev_artifacts_prefix: str
    dev_artifacts_kms_key_arn: str | None
    artifacts_kms_key_arn: str
    state_bucket: str
    state_key: str
    state_kms_key_arn: str
    permissions_boundary_arn: str
    dev_image_repositories: tuple[str, ...] = ()


def policy_variables(config: StageConfig, accounts: Accounts) -> dict[str, Any]:
    """Every template variable of one stage: mirrors `local.policy_vars` in bootstrap/stage/."""
    prefix = name_prefix(config.model_package_group_name)
    input_bucket, input_prefix = parse_s3_url(config.input_data_url)
    output_bucket, output_prefix = parse_s3_url(config.output_data_url)
    evaluation = [parse_s3_url(config.evaluation_input_url)] if config.evaluation_input_url else []
    pipeline_name = f"{config.model_package_group_name}-{config.stage}-batch-inference"
    name = module_name(pipeline_name)
    partition, region, account = "aws", config.region, config.account_id
    return {
        "partition": "aws",
        "region": config.region,
        "account_id": config.account_id,
        "source_account_id": config.source_account_id,
        "model_package_group_name": config.model_package_group_name,
        "registry_group": config.model_package_group_name.lower(),
        "module_name": name,
        "sagemaker_prefix": config.model_package_group_name[:30].lower(),
        "results_database": re.sub(r"[^a-z0-9_]", "_", name.lower()),
        "sagemaker_pipeline_name": pipeline_name.lower(),
        "module_alarm_and_dashboard_arns": [
            *(
                f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}-{suffix}"
                for suffix in MODULE_ALARM_SUFFIXES
            ),
            f"arn:{partition}:cloudwatch::{account}:dashboard/{name}",
        ],  # fmt: skip
        "artifacts_bucket": config.artifacts_bucket,
        "artifacts_kms_key_arn": accounts.artifacts_kms_key_arn,
        "input_bucket": input_bucket,
        "input_prefix": input_prefix,
        "output_bucket": output_bucket,
        "output_prefix": output_prefix,
        "data_bucket_arns": sorted(
            {f"arn:aws:s3:::{input_bucket}", f"arn:aws:s3:::{output_bucket}"}
            | {f"arn:aws:s3:::{bucket}" for bucket, _ in evaluation}
        ),
        "input_object_arns": [
            f"arn:aws:s3:::{input_bucket}/{input_prefix}*",
            f"arn:aws:s3:::{input_bucket}/smoke/*/input/*",
            *(f"arn:aws:s3:::{bucket}/{key}*" for bucket, key in evaluation),
        ],
        "execution_role_arn": config.sagemaker_execution_role_arn,
        "registry_reader_role_arn": (
            f"arn:aws:iam::{config.source_account_id}:role/{prefix}-registry-reader"
        ),
        "dev_artifacts_bucket": accounts.dev_artifacts_bucket,
        "dev_artifacts_prefix": accounts.dev_artifacts_prefix,
        "dev_artifacts_kms_key_arn": accounts.dev_artifacts_kms_key_arn or "",
        "state_bucket": accounts.state_bucket,
        "state_key": accounts.state_key,
        "state_kms_key_arn": accounts.state_kms_key_arn,
        "permissions_boundary_arn": accounts.permissions_boundary_arn,
        # bootstrap/stage/images.tf
        "model_images_repository_arn": (
            f"arn:aws:ecr:{region}:{account}:repository/"
            f"{stage_repository(config.model_package_group_name)}"
        ),
        "dev_image_repository_arns": [
            f"arn:aws:ecr:{region}:{config.source_account_id}:repository/{name}"
            for name in accounts.dev_image_repositories
        ],
        "aws_image_repository_arns": [
            f"arn:aws:ecr:{region}:{registry}:repository/*"
            for registry in json.loads(AWS_IMAGE_REGISTRIES.read_text(encoding="utf-8")).get(
                region, []
            )
        ],
    }


def role_documents(
    spec: RoleSpec, variables: Mapping[str, Any], *, dev_artifacts_key: bool
) -> dict[str, dict[str, Any]]:
    """The inline policies of one role, by template name, rendered with `variables`."""
    values = {**variables, "created_package_status": spec.created_package_status}
    dev_images = bool(variables.get("dev_image_repository_arns"))
    return {
        name: render(name, values)
        for name in role_policy_names(
            spec, dev_artifacts_key=dev_artifacts_key, dev_images=dev_images
        )
    }
