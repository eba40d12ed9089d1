"""Condition steps: evaluate their Conditions and pick the branch to run.

Supported condition types: Equals, GreaterThan, GreaterThanOrEqualTo, LessThan,
LessThanOrEqualTo, In, Not and Or (the SageMaker Pipelines condition types the SDK emits).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from pipelines.local.errors import DefinitionError
from pipelines.local.expressions import Context, evaluate

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "GreaterThan": operator.gt,
    "GreaterThanOrEqualTo": operator.ge,
    "LessThan": operator.lt,
    "LessThanOrEqualTo": operator.le,
}


def holds(condition: dict[str, Any], ctx: Context) -> bool:
    """Whether one condition of a Condition step holds."""
    kind = condition.get("Type")
    if kind in _COMPARISONS:
        left = evaluate(condition.get("LeftValue"), ctx)
        right = evaluate(condition.get("RightValue"), ctx)
        return bool(_COMPARISONS[str(kind)](left, right))
    if kind == "In":
        value = evaluate(condition.get("QueryValue"), ctx)
        return value in [evaluate(item, ctx) for item in condition.get("Values") or []]
    if kind == "Not":
        return not holds(condition["Condition"], ctx)
    if kind == "Or":
        return any(holds(item, ctx) for item in condition.get("Conditions") or [])
    raise DefinitionError(f"condition type {kind!r} is not supported by the local runner")


def branch(step: dict[str, Any], ctx: Context) -> tuple[bool, list[dict[str, Any]]]:
    """The outcome of a Condition step (all conditions hold) and the steps it runs."""
    args = step.get("Arguments") or {}
    outcome = all(holds(condition, ctx) for condition in args.get("Conditions") or [])
    return outcome, list(args.get("IfSteps" if outcome else "ElseSteps") or [])


def nested_steps(step: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step inside a Condition step's branches, at any depth."""
    if step.get("Type") != "Condition":
        return []
    args = step.get("Arguments") or {}
    found = []
    for inner in [*(args.get("IfSteps") or []), *(args.get("ElseSteps") or [])]:
        found += [inner, *nested_steps(inner)]
    return found
