"""Every IAM policy document the repository ships, rendered: for scripts/lint_policies.py.

- The templates of bootstrap/policies/, rendered as Terraform renders them (testbed/iam_policies.py
  holds the renderer and the variables, with the names `local.policy_vars` uses), for each stage
  and for the dev account: permission policies, the boundary, trust, bucket and key policies.
- The policies Terraform builds itself (`data "aws_iam_policy_document"` of every root and the
  bucket module's `jsonencode` policy), read from their HCL. Their references are replaced by
  stand-ins of the right shape (an SNS topic's ARN for `aws_sns_topic.x.arn`); a reference with
  no stand-in stops the lint, naming it, so a new one is never linted with a wrong shape.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hcl2  # noqa: E402

from promotion.config import StageConfig, default_config_path, load_stage_config  # noqa: E402
from testbed.iam_policies import (  # noqa: E402
    POLICIES_DIR,
    REPO_ROOT,
    TEMPLATE_SUFFIX,
    placeholders,
    policy_variables,
    render,
    role_specs,
)
from testbed.iam_world import accounts_for, trust_variables  # noqa: E402
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT  # noqa: E402

STAGES = ("pre-prod", "prod")
# Templates of the dev account (bootstrap/dev renders them with the dev account's values).
DEV_TEMPLATES = frozenset({
    "registry-reader", "registry-reader-trust", "dev-artifacts-bucket",
    "dev-artifacts-key-policy", "dev-artifacts-key", "dev-image-repository",
})  # fmt: skip
# Policies that are not identity policies, and what they are attached to (a trust statement
# names no Resource: the role it belongs to is its resource).
TRUST_TEMPLATES = frozenset({"github-trust", "registry-reader-trust", "sagemaker-trust"})
RESOURCE_TEMPLATES = frozenset({
    "dev-artifacts-bucket", "dev-artifacts-key-policy", "dev-image-repository",
})  # fmt: skip
TERRAFORM_FILES = (
    "batch-config-template.tf", "approval_trigger/iam.tf", "approval_trigger/storage.tf",
    "bootstrap/dev/main.tf", "bootstrap/stage/main.tf", "bootstrap/modules/bucket/main.tf",
    "modules/kms-key/main.tf",
)  # fmt: skip
REGION = "us-east-1"
_REFERENCE = re.compile(r"\$\{([^{}]*)\}")


@dataclass(frozen=True)
class Document:
    """One rendered policy: where it comes from, its kind and its statements."""

    label: str  # "terraform-apply (pre-prod)", "batch-config-template.tf alerts_key", ...
    source: str  # the template or the Terraform file
    kind: str  # "identity", "trust" or "resource"
    statements: tuple[dict[str, Any], ...]


def _configs() -> dict[str, StageConfig]:
    return {stage: load_stage_config(default_config_path(stage)) for stage in STAGES}


def _template_names() -> list[str]:
    return sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in POLICIES_DIR.glob(f"*{TEMPLATE_SUFFIX}"))


def _kind(template: str) -> str:
    if template in TRUST_TEMPLATES:
        return "trust"
    return "resource" if template in RESOURCE_TEMPLATES else "identity"


def template_documents() -> Iterator[Document]:
    """Every template, rendered with each stage's values (the dev templates with the dev
    account's), as bootstrap/dev and bootstrap/stage render them."""
    configs = _configs()
    specs = role_specs()
    reader = next(s for s in specs.values() if s.account == "dev")
    for template in _template_names():
        stages = ("dev",) if template in DEV_TEMPLATES else STAGES
        for stage in stages:
            config = configs["pre-prod" if stage == "dev" else stage]
            values = policy_variables(config, accounts_for(config))
            job_roles = [s for s in specs.values() if s.account == stage]
            spec = reader if stage == "dev" else job_roles[0]
            values |= trust_variables(spec, configs)
            values |= {"created_package_status": spec.created_package_status or "Approved"}
            if stage == "dev":
                key = f"arn:aws:kms:{config.region}:{DEV_ACCOUNT}:key/artifacts"
                values |= {"account_id": DEV_ACCOUNT, "source_account_id": DEV_ACCOUNT,
                           "dev_artifacts_kms_key_arn": key}  # fmt: skip
            missing = placeholders(template) - set(values)
            if missing:
                raise KeyError(f"{template}: no value for {sorted(missing)}")
            document = render(template, values)
            yield Document(f"{template} ({stage})", template, _kind(template),
                           tuple(_listed(document["Statement"])))  # fmt: skip


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- Terraform-built policies --------------------------------------------------------------------

_ARN_SHAPES = {
    "aws_sns_topic": "arn:aws:sns:{region}:{account}:x-alerts",
    "aws_sqs_queue": "arn:aws:sqs:{region}:{account}:x-queue",
    "aws_sagemaker_pipeline": "arn:aws:sagemaker:{region}:{account}:pipeline/x-pipeline",
    "aws_scheduler_schedule_group": "arn:aws:scheduler:{region}:{account}:schedule-group/x",
    "aws_cloudwatch_event_rule": "arn:aws:events:{region}:{account}:rule/x-rule",
    "aws_cloudwatch_metric_alarm": "arn:aws:cloudwatch:{region}:{account}:alarm:x-alarm",
    "aws_cloudwatch_log_group": "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/x",
    "aws_kms_key": "arn:aws:kms:{region}:{account}:key/x-key",
    "aws_secretsmanager_secret": "arn:aws:secretsmanager:{region}:{account}:secret:x-token",
    "aws_dynamodb_table": "arn:aws:dynamodb:{region}:{account}:table/x-table",
    "aws_s3_bucket": "arn:aws:s3:::x-bucket",
}
_VALUES: dict[str, str | list[str]] = {
    "local.partition": "aws", "data.aws_partition.current.partition": "aws",
    "local.region": REGION, "var.region": REGION,
    "local.deploy_role_arn": "arn:aws:iam::{account}:role/x-deploy-pre-prod",
    "local.alarm_arns": ["arn:aws:cloudwatch:{region}:{account}:alarm:x-alarm"],
    "local.log_group_arn": "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/x",
    "local.rule_arn": "arn:aws:events:{region}:{account}:rule/x-rule",
    "local.dead_letter_queue_arn": "arn:aws:sqs:{region}:{account}:x-queue",
    "module.key.arn": "arn:aws:kms:{region}:{account}:key/x-key",  # modules/kms-key's output
    # The stage module's ARNs built from names (batch-config-template.tf), shaped as the resources'.
    "local.pipeline_arn": _ARN_SHAPES["aws_sagemaker_pipeline"],
    "local.schedule_group_arn": _ARN_SHAPES["aws_scheduler_schedule_group"],
    "local.alerts_topic_arn": _ARN_SHAPES["aws_sns_topic"],
    "local.failure_rule_arn": _ARN_SHAPES["aws_cloudwatch_event_rule"],
    **{f"local.alarm_arn.{alarm}": _ARN_SHAPES["aws_cloudwatch_metric_alarm"] for alarm in
       ("pipeline_failed", "schedule_dead_letter", "data_quality", "input_skipped")},
}  # fmt: skip
_ACCOUNT_REFERENCES = {"local.account_id", "var.account_id", "local.dev_account_id"}


def _stand_in(expression: str, account: str) -> Any:
    """The stand-in of one Terraform expression.

    Raises:
        KeyError: an expression with no stand-in (add one to _ARN_SHAPES or _VALUES).
    """
    if expression in _ACCOUNT_REFERENCES:
        return account
    if expression in _VALUES:
        value = _VALUES[expression]
        if isinstance(value, list):
            return [item.format(region=REGION, account=account) for item in value]
        return value.format(region=REGION, account=account)
    resource = re.fullmatch(r"(aws_[a-z0-9_]+)\.[a-z0-9_]+(?:\[[^\]]*\])?\.arn", expression)
    if resource and resource.group(1) in _ARN_SHAPES:
        return _ARN_SHAPES[resource.group(1)].format(region=REGION, account=account)
    raise KeyError(f"no stand-in for ${{{expression}}}: add one to scripts/policy_documents.py")


def _resolve(value: Any, account: str) -> Any:
    if isinstance(value, list):
        resolved = [_resolve(item, account) for item in value]
        return [x for item in resolved for x in (item if isinstance(item, list) else [item])]
    if isinstance(value, dict):
        return {key: _resolve(item, account) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return _stand_in(whole.group(1), account)
    return _REFERENCE.sub(lambda m: str(_stand_in(m.group(1), account)), value)


def _principal(blocks: list[dict[str, Any]]) -> dict[str, list[str]]:
    principal: dict[str, list[str]] = {}
    for block in blocks:
        principal.setdefault(block["type"], []).extend(_listed(block["identifiers"]))
    return principal


def _statement(block: dict[str, Any], account: str) -> dict[str, Any]:
    """An `aws_iam_policy_document` statement block as policy JSON."""
    names = {"sid": "Sid", "effect": "Effect", "actions": "Action", "not_actions": "NotAction",
             "resources": "Resource", "not_resources": "NotResource"}  # fmt: skip
    statement: dict[str, Any] = {"Effect": "Allow"}
    statement |= {names[k]: v for k, v in block.items() if k in names}
    if block.get("principals"):
        statement["Principal"] = _principal(block["principals"])
    for condition in block.get("condition", []):
        operator = statement.setdefault("Condition", {}).setdefault(condition["test"], {})
        operator[condition["variable"]] = _listed(condition["values"])
    resolved: dict[str, Any] = _resolve(statement, account)
    return resolved


def _account_of(path: str) -> str:
    return DEV_ACCOUNT if path.startswith(("approval_trigger", "bootstrap/dev")) else (
        PRE_PROD_ACCOUNT
    )  # fmt: skip


def _jsonencoded(expression: str) -> Any:
    """The value of `${jsonencode({...})}`, as python-hcl2 reads an HCL object."""
    inner = expression.removeprefix("${jsonencode(").removesuffix(")}")
    return hcl2.loads(f"value = {inner}\n", serialization_options=_OPTIONS)["value"]


_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)


def terraform_documents() -> Iterator[Document]:
    """The policies the Terraform roots build: their policy document data sources, and the
    policies written as `jsonencode({...})` of an object (not of a template)."""
    for path in TERRAFORM_FILES:
        parsed = hcl2.load(
            (REPO_ROOT / path).open(encoding="utf-8"), serialization_options=_OPTIONS
        )
        account = _account_of(path)
        for data in parsed.get("data", []):
            for name, body in data.get("aws_iam_policy_document", {}).items():
                statements = tuple(_statement(s, account) for s in _listed(body["statement"]))
                kind = "resource" if any("Principal" in s for s in statements) else "identity"
                if all(_listed(s.get("Action"))[0] == "sts:AssumeRole" for s in statements):
                    kind = "trust"
                yield Document(f"{path} {name}", path, kind, statements)
        for resource in parsed.get("resource", []):
            for kind_name, items in resource.items():
                for name, body in items.items():
                    policy = body.get("policy")
                    if not (isinstance(policy, str) and policy.startswith("${jsonencode({")):
                        continue  # a template's rendering, linted as the template
                    encoded = _jsonencoded(policy)
                    if isinstance(encoded.get("Statement"), str):
                        continue  # statements of a template (bootstrap/dev's bucket policy)
                    document = _resolve(encoded, account)
                    yield Document(f"{path} {kind_name}.{name}", path, "resource",
                                   tuple(_listed(document["Statement"])))  # fmt: skip


def all_documents() -> list[Document]:
    """Every policy document the repository ships, rendered."""
    return [*template_documents(), *terraform_documents()]


if __name__ == "__main__":
    for document in all_documents():
        print(document.label, document.kind, json.dumps(document.statements)[:120])
