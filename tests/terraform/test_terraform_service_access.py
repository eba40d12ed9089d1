"""AWS services reach the stage's resources only on behalf of this stage's own resources: the
alerts key, the alerts topic and the scheduler role, read from the .tf with python-hcl2."""

from __future__ import annotations

from typing import Any

import pytest

from tests.terraform.conftest import Module

# Documented exception: EventBridge-to-encrypted-SNS delivery does not support aws:SourceAccount /
# aws:SourceArn in the key policy (Amazon SNS Developer Guide, key management).
UNCONDITIONABLE_KEY_USERS = frozenset({"events.amazonaws.com"})


def _policy(root_module: Module, name: str) -> list[dict[str, Any]]:
    return list(root_module["data"]["aws_iam_policy_document"][name]["statement"])


def _services(statement: dict[str, Any]) -> set[str]:
    return {
        identifier
        for principal in statement.get("principals", [])
        if principal["type"] == "Service"
        for identifier in principal["identifiers"]
    }


def _conditions(statement: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {c["variable"]: (c["test"], c["values"]) for c in statement.get("condition", [])}


def test_cloudwatch_uses_the_alerts_key_only_for_this_stages_alarms(root_module: Module) -> None:
    (statement,) = [
        s for s in _policy(root_module, "alerts_key") if "cloudwatch.amazonaws.com" in _services(s)
    ]

    assert sorted(statement["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    conditions = _conditions(statement)
    assert conditions["aws:SourceAccount"] == ("StringEquals", ["${local.account_id}"])
    assert conditions["aws:SourceArn"] == ("ArnEquals", "${local.alarm_arns}")


def test_the_alarm_arns_in_the_key_policy_are_the_alarms(root_module: Module) -> None:
    # GIVEN the ARNs the key policy builds (it cannot reference the alarms: they depend on it)
    (locals_,) = [root_module["locals"]]
    names = locals_["alarm_names"]
    assert (
        "${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:"
        in (locals_["alarm_arns"])
    )
    # THEN every alarm is named from them, and every alarm is one of them
    alarms = root_module["resource"]["aws_cloudwatch_metric_alarm"]
    assert {alarm["alarm_name"] for alarm in alarms.values()} == {
        f"${{local.alarm_names.{key}}}" for key in names
    }


def test_only_eventbridge_uses_the_alerts_key_without_source_conditions(
    root_module: Module,
) -> None:
    for statement in _policy(root_module, "alerts_key"):
        services = _services(statement)
        if not services:
            continue
        assert sorted(statement["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
        if services <= UNCONDITIONABLE_KEY_USERS:
            continue
        assert {"aws:SourceAccount", "aws:SourceArn"} <= set(_conditions(statement)), services


@pytest.mark.parametrize(
    ("sid", "service", "sources"),
    [
        (
            "FailureRulePublishes",
            "events.amazonaws.com",
            ["${aws_cloudwatch_event_rule.pipeline_failed.arn}"],
        ),
        (
            "AlarmsPublish",
            "cloudwatch.amazonaws.com",
            [
                "${aws_cloudwatch_metric_alarm.pipeline_failed.arn}",
                "${aws_cloudwatch_metric_alarm.schedule_dead_letter.arn}",
            ],
        ),
    ],
)
def test_only_this_stages_rule_and_alarms_publish_to_the_topic(
    root_module: Module, sid: str, service: str, sources: list[str]
) -> None:
    (statement,) = [s for s in _policy(root_module, "alerts_topic") if s["sid"] == sid]

    assert _services(statement) == {service}
    assert statement["actions"] == ["sns:Publish"]
    assert _conditions(statement)["aws:SourceArn"] == ("ArnEquals", sources)


def test_scheduler_role_is_assumed_only_for_this_schedule_group(root_module: Module) -> None:
    (statement,) = _policy(root_module, "scheduler_assume_role")

    assert _services(statement) == {"scheduler.amazonaws.com"}
    conditions = _conditions(statement)
    assert conditions["aws:SourceAccount"] == ("StringEquals", ["${local.account_id}"])
    assert conditions["aws:SourceArn"] == (
        "ArnEquals",
        ["${aws_scheduler_schedule_group.this.arn}"],
    )


def test_scheduler_role_starts_this_pipeline_and_nothing_else(root_module: Module) -> None:
    granted = {tuple(s["actions"]): s["resources"] for s in _policy(root_module, "scheduler")}

    assert granted == {
        ("sagemaker:StartPipelineExecution",): ["${aws_sagemaker_pipeline.this.arn}"],
        ("sqs:SendMessage",): ["${aws_sqs_queue.schedule_dead_letter.arn}"],
    }
