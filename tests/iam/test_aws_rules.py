"""Rules of AWS's authorization that moto does not enforce, encoded and held against the shipped
templates (and the alerts key policy of the root module). Each rule cites its source; docs/iam.md
("What moto cannot enforce") carries the same list for readers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from testbed.iam_policies import ROLES_FILE, placeholders, render, role_specs
from tests.terraform.conftest import MODULE_FILES, REPO_ROOT, load_hcl, merge_module

GROUP = "x-model_package_group_name"  # the placeholder value of the group in the renders below


def role_specs_by_account() -> dict[str, dict[str, Any]]:
    """bootstrap/policies/roles.json: role names by account."""
    loaded: dict[str, dict[str, Any]] = json.loads(ROLES_FILE.read_text(encoding="utf-8"))
    return loaded


def _statements() -> list[tuple[str, dict[str, Any]]]:
    """(template, statement) of every template a stage role holds, with placeholder values."""
    templates = {t for spec in role_specs().values() for t in spec.policies} | {"boundary"}
    found = []
    for template in sorted(templates):
        values: dict[str, Any] = {name: f"x-{name}" for name in placeholders(template)}
        values |= {"stage_account_roots": ["r"], "stage_role_arns": ["a"],
                   "data_bucket_arns": ["b"], "module_alarm_and_dashboard_arns": ["c"]}  # fmt: skip
        found += [(template, s) for s in render(template, values)["Statement"]]
    return found


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return set(action if isinstance(action, list) else [action])


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement.get("Resource", [])
    return resource if isinstance(resource, list) else [resource]


def _granting(action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(t, s) for t, s in _statements() if s["Effect"] == "Allow" and action in _actions(s)]


def _condition(statement: dict[str, Any], operator: str, key: str) -> Any:
    return statement.get("Condition", {}).get(operator, {}).get(key)


def test_tags_sent_with_createkey_are_allowed_on_every_key_of_the_account() -> None:
    # RULE (AWS KMS Developer Guide, "Controlling access to tags" and "Managing KMS key tags
    # with API operations"): to add tags while creating a KMS key, kms:TagResource must be in an
    # IAM policy that isn't restricted to particular KMS keys, at a minimum covering all keys of
    # the account and Region. The provider sends default_tags with CreateKey.
    creators = _granting("kms:CreateKey")
    taggers = [
        s for _, s in _granting("kms:TagResource")
        if any(r in ("*", "arn:x-partition:kms:x-region:x-account_id:key/*") for r in _resources(s))
        and not any(k.startswith("aws:ResourceTag/") for op in s.get("Condition", {}).values()
                    for k in op)
    ]  # fmt: skip

    # THEN a role that creates keys with the group's tag may also tag them, under the same tag
    assert creators
    assert taggers, "kms:TagResource on key/* without an aws:ResourceTag condition is missing"
    assert all(_condition(s, "StringEquals", "aws:RequestTag/ModelPackageGroup") == GROUP
               for s in taggers)  # fmt: skip


def test_subscription_actions_are_granted_on_star() -> None:
    # RULE (Service Authorization Reference, Amazon SNS): GetSubscriptionAttributes,
    # SetSubscriptionAttributes and Unsubscribe have no resource types, so a statement must give
    # "Resource": "*"; one scoped to a topic ARN never matches and the call is denied (creating,
    # refreshing and destroying aws_sns_topic_subscription with alarm_email set).
    for action in ("sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes",
                   "sns:Unsubscribe"):  # fmt: skip
        grants = _granting(action)
        assert grants, f"{action} is not granted"
        assert all(_resources(s) == ["*"] for _, s in grants), (action, grants)


def test_subscribe_is_limited_to_the_email_protocol() -> None:
    # RULE (Service Authorization Reference, Amazon SNS: sns:Subscribe takes the condition keys
    # sns:Protocol and sns:Endpoint): the module subscribes only alarm_email, by email.
    grants = _granting("sns:Subscribe")
    assert grants
    assert all(_condition(s, "StringEquals", "sns:Protocol") == "email" for _, s in grants)


def test_rules_match_only_sagemaker_pipeline_events_and_target_only_the_module_topic() -> None:
    # RULE (Service Authorization Reference, Amazon EventBridge: PutRule takes events:source and
    # events:detail-type, PutTargets events:TargetArn; EventBridge User Guide, "Using IAM policy
    # conditions"): without them the deploy role could forward any of the account's events, or
    # target anything. Each key must be present (Null false): ForAllValues holds on no value.
    rules = _granting("events:PutRule")
    assert rules
    for _, statement in rules:
        assert _actions(statement) == {"events:PutRule"}
        assert (
            _condition(statement, "ForAllValues:StringEquals", "events:source") == "aws.sagemaker"
        )
        assert _condition(statement, "ForAllValues:StringEquals", "events:detail-type") == (
            "SageMaker Model Building Pipeline Execution Status Change")  # fmt: skip
        assert _condition(statement, "Null", "events:source") == "false"
        assert _condition(statement, "Null", "events:detail-type") == "false"
    targets = _granting("events:PutTargets")
    assert targets
    topic = "arn:x-partition:sns:x-region:x-account_id:x-module_name-alerts"
    for _, statement in targets:
        assert _actions(statement) == {"events:PutTargets"}
        assert _condition(statement, "ForAllValues:ArnEquals", "events:TargetArn") == topic
        assert _condition(statement, "Null", "events:TargetArn") == "false"


# What the provider calls on a key right after CreateKey (terraform-provider-aws aws_kms_key:
# the waits for description, policy, tags and rotation, EnableKeyRotation; aws_kms_alias), and
# the PutKeyPolicy CreateKey's lockout safety check requires the caller to be allowed
# (KMS API Reference, CreateKey, "Policy").
RIGHT_AFTER_CREATE = {
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:CreateAlias",
}  # fmt: skip


def test_key_actions_right_after_creation_do_not_depend_on_propagated_tags() -> None:
    # RULE (AWS KMS Developer Guide, ABAC for AWS KMS: tag changes may take up to five minutes
    # to affect authorization): the calls right after CreateKey must not depend on the new key's
    # tags, so the alerts key policy grants them to the stage's deploy role, unconditionally.
    module = merge_module([load_hcl(REPO_ROOT / name) for name in MODULE_FILES])
    statements = module["data"]["aws_iam_policy_document"]["alerts_key"]["statement"]
    named = [
        s for s in statements
        if any("${local.deploy_role_arn}" in p["identifiers"] for p in s.get("principals", []))
    ]  # fmt: skip
    assert named, "the alerts key policy names no deploy role"
    granted = {a for s in named for a in s["actions"]}
    assert granted >= RIGHT_AFTER_CREATE, RIGHT_AFTER_CREATE - granted
    assert not any(s.get("condition") for s in named)


def test_the_alerts_key_names_the_deploy_role_never_whoever_made_the_plan() -> None:
    # RULE (issue 24): prod's plan is made by the read-only plan role and applied, after the
    # review, by the deploy role. A key policy grant needs no IAM allow in the same account, so a
    # key policy naming the plan's caller would let the plan role rewrite the alerts key's
    # policy; and the deploy role that calls CreateKey would not be named.
    module = merge_module([load_hcl(REPO_ROOT / name) for name in MODULE_FILES])
    locals_ = module["locals"]
    # (the key policy: the module's statements, and modules/kms-key's own for the account)
    call = module["module"]["alerts_key"]
    assert call["policy_statements"] == "${data.aws_iam_policy_document.alerts_key.json}"
    assert call["account_id"] == "${local.account_id}"
    key_module = merge_module([load_hcl(REPO_ROOT / "modules" / "kms-key" / "main.tf")])
    principals = [
        identifier
        for policy in (module["data"]["aws_iam_policy_document"]["alerts_key"],
                       key_module["data"]["aws_iam_policy_document"]["this"])
        for statement in policy["statement"]
        for block in statement.get("principals", []) if block["type"] == "AWS"
        for identifier in block["identifiers"]
    ]  # fmt: skip
    # THEN every principal is the account root or the deploy role, named from the stage, never
    # from the caller's identity
    assert set(principals) == {
        "arn:${data.aws_partition.current.partition}:iam::${var.account_id}:root",
        "${local.deploy_role_arn}",
    }  # fmt: skip
    assert "aws_caller_identity" not in json.dumps(locals_["deploy_role_arn"])
    assert not [name for name, value in locals_.items()
                if "aws_caller_identity.current.arn" in json.dumps(value)]  # fmt: skip
    # AND it is the role bootstrap/modules/naming names `<name_prefix>-deploy-<stage>`
    naming = merge_module([load_hcl(REPO_ROOT / "bootstrap" / "modules" / "naming" / "main.tf")])[
        "locals"
    ]
    prefix = naming["name_prefix"].removeprefix("${").removesuffix("}")
    assert locals_["deploy_role_arn"] == (
        "arn:${local.partition}:iam::${local.account_id}:role/${"
        + prefix.replace("var.model_package_group_name", "var.config.model_package_group_name")
        + "}-deploy-${var.config.stage}"
    )
    assert {name for roles in role_specs_by_account().values() for name in roles} >= {
        "deploy-pre-prod", "deploy-prod",
    }  # fmt: skip


KEY_ADMINISTRATION = sorted({
    "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion", "kms:UntagResource",
    "kms:UpdateKeyDescription", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
})  # fmt: skip


@pytest.mark.parametrize("action", KEY_ADMINISTRATION)
def test_no_identity_policy_administers_keys(action: str) -> None:
    # RULE (AWS KMS Developer Guide, "Controlling access to tags": CreateKey with tags needs
    # kms:TagResource "in an IAM policy that isn't restricted to particular KMS keys"): the deploy
    # role can tag any key of the account with its group, so an identity-policy grant under that
    # tag would reach another workload's key. Only the alerts key's own policy administers it.
    grants = [s for _, s in _granting(action)
              if any(":key/" in r or r == "*" for r in _resources(s))]  # fmt: skip
    assert grants == [], action
    module = merge_module([load_hcl(REPO_ROOT / name) for name in MODULE_FILES])
    statements = module["data"]["aws_iam_policy_document"]["alerts_key"]["statement"]
    assert any(action in s["actions"] for s in statements
               if any("${local.deploy_role_arn}" in p["identifiers"]
                      for p in s.get("principals", [])))  # fmt: skip
