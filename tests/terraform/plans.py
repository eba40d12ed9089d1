"""What a plan of the stage root must hold, read from `terraform show -json` (tests of
test_terraform_cli.py and test_terraform_tags.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Tags bootstrap's IAM policies require on creation (aws:RequestTag): on every resource.
DEPLOYMENT_TAGS = ("Stage", "ModelPackageGroup")
# The lineage tag: on the promoted version's own resources only, never on the stage's standing
# ones (a promotion would update every one of them for a tag).
VERSION_TAG = "SourceModelPackageVersion"
VERSIONED_TYPES = frozenset({"aws_sagemaker_model", "aws_sagemaker_pipeline"})


def untagged(plan: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every resource the plan creates or updates whose type takes `tags` (the provider's
    schema says which) but whose own `tags` lack a deployment tag, or hold the version tag where
    they should not (or lack it where they should); [] when none.

    The resource's own `tags`, not `tags_all`: the stage module must tag its resources itself
    whatever the root's provider sets as default_tags."""
    problems = []
    for change in plan.get("resource_changes", []):
        changing = {"create", "update"} & set(change["change"]["actions"])
        if change["mode"] != "managed" or not changing:
            continue
        kind = schema["resource"].get(change["type"])
        if kind is None:
            problems.append(f"{change['address']}: {change['type']} is not in the provider schema")
            continue
        if "tags" not in kind["args"]:
            continue
        tags = (change["change"]["after"] or {}).get("tags") or {}
        versioned = change["type"] in VERSIONED_TYPES
        missing = [tag for tag in (*DEPLOYMENT_TAGS, *[VERSION_TAG] * versioned)
                   if not tags.get(tag)]  # fmt: skip
        if missing:
            problems.append(f"{change['address']}: no {', '.join(missing)} tag")
        elif not versioned and VERSION_TAG in tags:
            problems.append(f"{change['address']}: {VERSION_TAG} on a standing resource")
    return problems
