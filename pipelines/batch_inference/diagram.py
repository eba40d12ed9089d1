"""A Mermaid flowchart of a rendered pipeline definition (GitHub renders it in job summaries)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_-]+)")


def _step_references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        reference = value.get("Get")
        if isinstance(reference, str) and (match := _STEP_REFERENCE.match(reference)):
            yield match.group(1)
        for item in value.values():
            yield from _step_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _step_references(item)


def step_dependencies(definition: dict[str, Any]) -> dict[str, list[str]]:
    """Each step's upstream steps: ``DependsOn`` plus the steps its arguments read (sorted)."""
    dependencies = {}
    for step in definition.get("Steps", []):
        upstream = set(step.get("DependsOn", [])) | set(_step_references(step.get("Arguments")))
        upstream.discard(step["Name"])
        dependencies[step["Name"]] = sorted(upstream)
    return dependencies


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def mermaid_diagram(definition: dict[str, Any]) -> str:
    """A ``flowchart LR`` of the steps (name and type) and their dependencies.

    Args:
        definition: the parsed pipeline definition JSON.

    Returns:
        Mermaid source without code fences, ending with a newline.
    """
    lines = ["flowchart LR"]
    for step in definition.get("Steps", []):
        lines.append(f'    {_node_id(step["Name"])}["{step["Name"]}<br/>{step["Type"]}"]')
    for name, upstream in step_dependencies(definition).items():
        lines.extend(f"    {_node_id(source)} --> {_node_id(name)}" for source in upstream)
    return "\n".join(lines) + "\n"
