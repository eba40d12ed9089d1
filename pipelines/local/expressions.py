"""Evaluate the expressions of a pipeline definition.

Supported: ``{"Get": "Parameters.X"}``, ``{"Get": "Execution.X"}``,
``{"Get": "Steps.S.<path>"}`` with ``.name``, ``['name']`` and ``[n]`` segments,
``{"Get": "PipelineExperimentConfig.X"}``, ``{"Std:Join": {"On": ..., "Values": [...]}}`` and
``{"Std:JsonGet": {"PropertyFile": ..., "Path": ...}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.local.errors import DefinitionError, StepError

_SEGMENT = re.compile(r"""\.([A-Za-z0-9_\-]+)|\[(-?\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")
_STEP_REF = re.compile(r"^Steps\.([A-Za-z0-9_\-]+)")
EXECUTION_VARIABLES = (
    "StartDateTime",
    "CurrentDateTime",
    "PipelineName",
    "PipelineArn",
    "PipelineExecutionId",
    "PipelineExecutionArn",
    "TrainingJobName",
    "ProcessingJobName",
)


@dataclass
class Context:
    """Everything an expression can read.

    Attributes:
        parameters: typed parameter values by name.
        execution: ``Execution.*`` values; a callable is evaluated on each read.
        steps: properties of finished steps (their Describe*-shaped dicts) by step name.
        experiment: resolved ``PipelineExperimentConfig`` values.
    """

    parameters: Mapping[str, Any]
    execution: dict[str, Any | Callable[[], Any]]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiment: dict[str, Any] = field(default_factory=dict)


def parse_path(path: str) -> list[str | int]:
    """Split ``.A['b'][0].C`` into ``["A", "b", 0, "C"]``; raise on anything else."""
    segments: list[str | int] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            raise DefinitionError(f"cannot parse property path {path!r} at {path[position:]!r}")
        name, index, single, double = match.groups()
        if index is not None:
            segments.append(int(index))
        else:
            segments.append(next(s for s in (name, single, double) if s is not None))
        position = match.end()
    return segments


def _select(value: Any, segment: str | int, where: str) -> Any:
    if isinstance(value, list):
        if isinstance(segment, int):
            if -len(value) <= segment < len(value):
                return value[segment]
        else:
            for item in value:
                names = (
                    [v for k, v in item.items() if k.endswith("Name")]
                    if isinstance(item, dict)
                    else []
                )
                if segment in names:
                    return item
    elif isinstance(value, dict) and segment in value:
        return value[segment]
    raise StepError(f"property {where} does not exist (no {segment!r})")


def get_property(root: Any, path: str, where: str) -> Any:
    """Follow a property path from ``root``; ``where`` names the expression in errors."""
    value = root
    for segment in parse_path(path):
        value = _select(value, segment, where)
    return value


def _get(reference: str, ctx: Context) -> Any:
    kind, _, rest = reference.partition(".")
    if kind == "Parameters":
        if rest not in ctx.parameters:
            raise DefinitionError(f"{reference} names no pipeline parameter")
        return ctx.parameters[rest]
    if kind == "Execution":
        if rest not in ctx.execution:
            raise DefinitionError(f"{reference} is not an execution variable")
        value = ctx.execution[rest]
        return value() if callable(value) else value
    if kind == "PipelineExperimentConfig":
        if rest not in ctx.experiment:
            raise DefinitionError(f"{reference} is not set: the definition has no such config")
        return ctx.experiment[rest]
    if kind == "Steps":
        step, dot, path = rest.partition(".")
        if step not in ctx.steps:
            raise StepError(f"{reference} reads step {step!r}, which has not run")
        if not dot:
            raise DefinitionError(f"{reference} names a step but no property")
        return get_property(ctx.steps[step], "." + path, reference)
    raise DefinitionError(f"unsupported reference {reference!r}")


def to_text(value: Any) -> str:
    """Stringify a value the way Std:Join does (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _json_get(spec: Mapping[str, Any], ctx: Context) -> Any:
    document = evaluate(spec.get("PropertyFile"), ctx)
    path = evaluate(spec.get("Path"), ctx)
    if not isinstance(path, str):
        raise DefinitionError(f"Std:JsonGet Path must be a string, got {path!r}")
    dotted = path if path.startswith(("[", ".")) else "." + path
    return get_property(document, dotted, f"Std:JsonGet {path}")


def evaluate(value: Any, ctx: Context) -> Any:
    """Return ``value`` with every expression in it replaced by its result."""
    if isinstance(value, list):
        return [evaluate(item, ctx) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Get":
            if not isinstance(arg, str):
                raise DefinitionError(f"Get takes a string, got {arg!r}")
            return _get(arg, ctx)
        if key == "Std:Join":
            if not isinstance(arg, dict) or not isinstance(arg.get("Values"), list):
                raise DefinitionError(f"Std:Join needs On and a list of Values, got {arg!r}")
            parts = [to_text(evaluate(item, ctx)) for item in arg["Values"]]
            return to_text(evaluate(arg.get("On", ""), ctx)).join(parts)
        if key == "Std:JsonGet":
            return _json_get(arg, ctx)
    return {key: evaluate(item, ctx) for key, item in value.items()}


def references(value: Any) -> Iterator[str]:
    """Yield the names of the steps that expressions inside ``value`` read."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        get = value.get("Get")
        if len(value) == 1 and isinstance(get, str):
            match = _STEP_REF.match(get)
            if match:
                yield match.group(1)
            return
        for item in value.values():
            yield from references(item)


def resolve_parameters(declared: list[dict[str, Any]], given: Mapping[str, str]) -> dict[str, Any]:
    """Type the start-time values (strings) by the declared Type; apply defaults."""
    by_name = {p["Name"]: p for p in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise DefinitionError(f"unknown pipeline parameters {unknown}; declared: {sorted(by_name)}")
    values: dict[str, Any] = {}
    for name, spec in by_name.items():
        if name in given:
            values[name] = _convert(name, spec.get("Type", "String"), given[name])
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise DefinitionError(f"pipeline parameter {name} has no default; pass {name}=VALUE")
        allowed = spec.get("EnumValues")
        if allowed and values[name] not in allowed:
            raise DefinitionError(f"parameter {name}={values[name]!r} is not one of {allowed}")
    return values


def _convert(name: str, kind: str, raw: str) -> Any:
    try:
        if kind == "Integer":
            return int(raw)
        if kind == "Float":
            return float(raw)
    except ValueError as err:
        raise DefinitionError(f"parameter {name}={raw!r} is not a valid {kind}") from err
    if kind == "Boolean":
        if raw.lower() not in ("true", "false"):
            raise DefinitionError(f"parameter {name}={raw!r} is not true or false")
        return raw.lower() == "true"
    return raw
