"""Order the steps of a definition by data dependencies and DependsOn."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from pipelines.local.conditions import nested_steps
from pipelines.local.errors import DefinitionError
from pipelines.local.expressions import references

_STEP_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def dependencies(step: dict[str, Any]) -> set[str]:
    """Names of the steps ``step`` must wait for."""
    needed = set(references(step.get("Arguments", {})))
    needed.update(references(step.get("PropertyFiles", [])))
    needed.update(step.get("DependsOn") or [])
    needed.discard(step["Name"])
    inner = nested_steps(step)
    for nested in inner:
        needed |= dependencies(nested)
    return needed - {str(nested.get("Name")) for nested in inner}


def order_steps(
    steps: list[dict[str, Any]], *, finished: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Topological order; ties keep definition order. Raise on unknown names or cycles.

    ``finished`` names steps that ran before these (a Condition step's branch reads them).
    """
    names = [step.get("Name") for step in steps]
    for name in names:
        if not isinstance(name, str) or not _STEP_NAME.match(name):
            raise DefinitionError(f"step name {name!r} must match [A-Za-z0-9_-]{{1,64}}")
    if len(set(names)) != len(names):
        raise DefinitionError(f"step names must be unique: {names}")
    needs = {step["Name"]: dependencies(step) - set(finished) for step in steps}
    for name, needed in needs.items():
        unknown = sorted(needed - set(needs))
        if unknown:
            raise DefinitionError(f"step {name} depends on unknown steps {unknown}")
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    remaining = list(steps)
    while remaining:
        ready = [step for step in remaining if needs[step["Name"]] <= done]
        if not ready:
            cycle = sorted(step["Name"] for step in remaining)
            raise DefinitionError(f"steps {cycle} depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0]["Name"])
        remaining.remove(ready[0])
    return ordered
