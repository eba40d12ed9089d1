"""The tag check the stage root's plans pass (tests/terraform/test_terraform_cli.py), shown to
fail: a resource that takes tags must carry the deployment tags itself, and only the promoted
version's own resources its number."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.terraform.plans import untagged

TAGS = {"Stage": "pre-prod", "ModelPackageGroup": "churn"}
VERSION = {"SourceModelPackageVersion": "3"}


def _change(address: str, after: dict[str, Any], actions: tuple[str, ...] = ("create",)) -> Any:
    kind = address.rsplit(".", 2)[-2]
    return {"address": address, "mode": "managed", "type": kind,
            "change": {"actions": list(actions), "after": after}}  # fmt: skip


@pytest.fixture(scope="module")
def schema(load_script: Callable[[str], ModuleType]) -> Any:
    return load_script("provider_schema").load_schema()


def test_a_plan_whose_taggable_resources_carry_the_tags_passes(schema: Any) -> None:
    plan = {"resource_changes": [
        _change("module.stage.aws_sqs_queue.q", {"tags": TAGS}),
        _change("module.stage.aws_sagemaker_model.m", {"tags": {**TAGS, **VERSION}}),
        _change("module.stage.module.alerts_key.aws_kms_key.this", {"tags": {**TAGS, "team": "x"}}),
        _change("module.stage.aws_scheduler_schedule.s", {}),  # takes no tags
        _change("module.stage.aws_kms_alias.a", {}),
    ]}  # fmt: skip
    assert untagged(plan, schema) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_change("module.stage.aws_sqs_queue.q", {"tags": {}}),
         "module.stage.aws_sqs_queue.q: no Stage, ModelPackageGroup"),
        (_change("module.stage.aws_sagemaker_model.m", {"tags": None, "tags_all": TAGS}),
         "module.stage.aws_sagemaker_model.m: no Stage, ModelPackageGroup, SourceModelPackage"),
        (_change("module.stage.aws_sagemaker_pipeline.p", {"tags": TAGS}),
         "module.stage.aws_sagemaker_pipeline.p: no SourceModelPackageVersion"),
        (_change("module.stage.aws_sns_topic.t", {"tags": {**TAGS, **VERSION}}, ("update",)),
         "module.stage.aws_sns_topic.t: SourceModelPackageVersion on a standing resource"),
        (_change("module.stage.aws_iam_role.r",
                 {"tags": {k: v for k, v in TAGS.items() if k != "Stage"}}, ("update",)),
         "module.stage.aws_iam_role.r: no Stage tag"),
        (_change("module.stage.aws_made_up.x", {}),
         "module.stage.aws_made_up.x: aws_made_up is not in the provider schema"),
    ],
    ids=["no-tags", "only-default-tags", "version-missing", "version-on-a-standing-resource",
         "one-missing-on-update", "unknown-type"],
)  # fmt: skip
def test_a_resource_without_its_own_deployment_tags_is_named(
    schema: Any, change: Any, expected: str
) -> None:
    # GIVEN a plan with one mistake WHEN checked THEN it is named
    plan = {"resource_changes": [_change("x.aws_sqs_queue.ok", {"tags": TAGS}), change]}
    problems = untagged(plan, schema)
    assert len(problems) == 1 and problems[0].startswith(expected), problems
