"""What a plan of the stage root must hold, read from `terraform show -json` (tests of
test_terraform_cli.py and test_terraform_tags.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Tags bootstrap's IAM policies require on creation (aws:RequestTag), and the lineage tag.
DEPLOYMENT_TAGS = ("Stage", "ModelPackageGroup", "SourceModelPackageVersion")


def untagged(plan: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every resource the plan creates or updates whose type takes `tags` (the provider's
    schema says which) but whose own `tags` lack a deployment tag; [] when none.

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
        missing = [tag for tag in DEPLOYMENT_TAGS if not tags.get(tag)]
        if missing:
            problems.append(f"{change['address']}: no {', '.join(missing)} tag")
    return problems
