"""A Mermaid flowchart of a rendered pipeline definition (GitHub renders it in job summaries)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_-]+)")
# Step types that start a SageMaker job (an instance billed and started per run); Condition,
# Fail and the like are evaluated by the Pipelines service itself.
JOB_STEP_TYPES = ("Processing", "Transform", "Training", "Tuning")


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


def all_steps(steps: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every step with the Condition step whose branch holds it (None at the top level)."""
    for step in steps:
        yield step, None
        if step.get("Type") == "Condition":
            args = step.get("Arguments") or {}
            for inner, _ in all_steps([*args.get("IfSteps", []), *args.get("ElseSteps", [])]):
                yield inner, step["Name"]


def job_steps(definition: dict[str, Any]) -> list[str]:
    """The steps of a definition that start a SageMaker job, at any depth, in order."""
    steps = all_steps(definition.get("Steps", []))
    return [step["Name"] for step, _ in steps if step.get("Type") in JOB_STEP_TYPES]


def step_dependencies(definition: dict[str, Any]) -> dict[str, list[str]]:
    """Each step's upstream steps: ``DependsOn``, the steps its arguments read, and the
    Condition step of its branch (sorted); a Condition step's branches are not its inputs."""
    dependencies = {}
    for step, gate in all_steps(definition.get("Steps", [])):
        arguments = dict(step.get("Arguments") or {})
        if step.get("Type") == "Condition":
            arguments = {"Conditions": arguments.get("Conditions", [])}
        upstream = set(step.get("DependsOn", [])) | set(_step_references(arguments))
        upstream |= {gate} if gate else set()
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
    for step, _ in all_steps(definition.get("Steps", [])):
        lines.append(f'    {_node_id(step["Name"])}["{step["Name"]}<br/>{step["Type"]}"]')
    for name, upstream in step_dependencies(definition).items():
        lines.extend(f"    {_node_id(source)} --> {_node_id(name)}" for source in upstream)
    return "\n".join(lines) + "\n"
