"""Every taggable resource carries the stage, the model package group and the source version.

Tags come from the provider's default_tags (local.tags = var.tags merged with the three
deployment tags). The checker below is also run on broken copies of the module, so it is shown
to fail when a tag, the provider default or a resource classification is missing.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

REQUIRED_TAGS = {
    "Stage": "var.stage",
    "ModelPackageGroup": "var.model_package_group_name",
    "SourceModelPackageVersion": "tostring(var.source_model_package_version)",
}

# Resource types of the AWS provider and whether they take `tags` (so default_tags reach them).
TAGGABLE = {
    "aws_cloudwatch_event_rule",
    "aws_cloudwatch_metric_alarm",
    "aws_glue_catalog_database",
    "aws_iam_role",
    "aws_kms_key",
    "aws_sagemaker_model",
    "aws_sagemaker_pipeline",
    "aws_scheduler_schedule_group",
    "aws_sns_topic",
    "aws_sqs_queue",
}
NOT_TAGGABLE = {
    "aws_cloudwatch_dashboard",
    "aws_cloudwatch_event_target",
    "aws_glue_catalog_table",
    "aws_iam_role_policy",
    "aws_kms_alias",
    "aws_scheduler_schedule",
    "aws_sns_topic_policy",
    "aws_sns_topic_subscription",
}


def _split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside brackets or quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == '"' and text[index - 1 : index] != "\\":
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _object_literal(text: str) -> dict[str, str] | None:
    """`{a = x, b = y}` as {"a": "x", "b": "y"}; None when `text` is not an object literal."""
    if not (text.startswith("{") and text.endswith("}")):
        return None
    pairs = [re.match(r"^(\w+)\s*=\s*(.+)$", part, re.S) for part in _split_top_level(text[1:-1])]
    return {m.group(1): m.group(2).strip() for m in pairs if m}


def _resource_tags(tags: Any) -> dict[str, Any] | None:
    """A resource's own `tags`: a map python-hcl2 parsed, or an object literal expression."""
    if isinstance(tags, dict):
        return tags
    text = str(tags)
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return _object_literal(text)


def tagging_problems(module: dict[str, Any]) -> list[str]:
    """What stops every taggable resource from carrying the required tags; [] when nothing."""
    problems = []
    provider = module["provider"].get("aws", {})
    default_tags = provider.get("default_tags", [{}])[0].get("tags")
    if default_tags != "${local.tags}":
        problems.append(f"provider aws default_tags.tags is {default_tags!r}, not local.tags")
    expression = str(module["locals"].get("tags", ""))
    call = re.match(r"^\$\{merge\((.*)\)\}$", expression, re.S)
    arguments = _split_top_level(call.group(1)) if call else []
    if not arguments or arguments[0] != "var.tags":
        problems.append(f"local.tags must be merge(var.tags, {{...}}), not {expression!r}")
    fixed = _object_literal(arguments[-1]) if arguments else None
    for key, value in REQUIRED_TAGS.items():
        if (fixed or {}).get(key) != value:
            problems.append(f"local.tags must set {key} = {value} after var.tags")
    for type_name, by_name in module["resource"].items():
        if type_name not in TAGGABLE | NOT_TAGGABLE:
            problems.append(f"{type_name}: unknown resource type, classify it as taggable or not")
            continue
        for name, body in by_name.items():
            own = _resource_tags(body.get("tags", {}))
            if own is None:
                problems.append(f"{type_name}.{name}: tags must be a literal map, to be checkable")
                continue
            overridden = set(own) & set(REQUIRED_TAGS)
            if overridden:
                problems.append(f"{type_name}.{name}: overrides required tags {overridden}")
    return problems


def test_every_taggable_resource_is_tagged(root_module: dict[str, Any]) -> None:
    # GIVEN the root module as written
    # WHEN checking its provider defaults, local.tags and each resource
    problems = tagging_problems(root_module)

    # THEN nothing stops a taggable resource from carrying the three required tags
    assert problems == []


def test_module_has_taggable_resources(root_module: dict[str, Any]) -> None:
    # The check above would pass vacuously on a module without taggable resources.
    assert set(root_module["resource"]) & TAGGABLE >= {
        "aws_sagemaker_model",
        "aws_sagemaker_pipeline",
        "aws_sns_topic",
        "aws_sqs_queue",
    }


@pytest.mark.parametrize(
    ("break_module", "expected"),
    [
        (lambda m: m["provider"]["aws"].pop("default_tags"), "default_tags"),
        (
            lambda m: m["locals"].__setitem__(
                "tags",
                "${merge(var.tags, {Stage = var.stage, "
                "ModelPackageGroup = var.model_package_group_name})}",
            ),
            "SourceModelPackageVersion",
        ),
        (
            lambda m: m["locals"].__setitem__(
                "tags",
                "${merge({Stage = var.stage, ModelPackageGroup = var.model_package_group_name, "
                "SourceModelPackageVersion = tostring(var.source_model_package_version)}, "
                "var.tags)}",
            ),
            "merge(var.tags",
        ),
        (
            lambda m: m["resource"]["aws_sqs_queue"]["schedule_dead_letter"].__setitem__(
                "tags", {"Stage": "dev"}
            ),
            "overrides required tags",
        ),
        (
            lambda m: m["resource"]["aws_sns_topic"]["alerts"].__setitem__(
                "tags", "${merge(local.tags, {Stage = var.stage})}"
            ),
            "tags must be a literal map",
        ),
        (
            lambda m: m["resource"].__setitem__("aws_s3_bucket", {"extra": {"bucket": "x"}}),
            "aws_s3_bucket: unknown resource type",
        ),
    ],
    ids=[
        "no-default-tags",
        "missing-tag",
        "var-tags-win",
        "resource-override",
        "resource-expression",
        "unclassified",
    ],
)
def test_tag_check_fails_on_a_broken_module(
    root_module: dict[str, Any], break_module: Any, expected: str
) -> None:
    # GIVEN a copy of the module with one tagging mistake
    broken = copy.deepcopy(root_module)
    break_module(broken)

    # WHEN checking it
    problems = tagging_problems(broken)

    # THEN the mistake is reported
    assert any(expected in problem for problem in problems), problems
