"""SageMaker's documented limits on a request, checked before anything is written.

The limits are botocore's service model of the operation (the `min`, `max`, `pattern` and `enum`
of each shape, as the SageMaker API reference documents them), not a copy of our own. botocore
itself checks only `min` and types on the client (its ParamValidator leaves `max` to the
service), so a request over a limit would otherwise fail at CreateModelPackage, after the copies,
or, on an emulator, pass. A pattern Python's `re` cannot compile (Java's `\\p{L}` classes, in the
metadata keys) is not checked; every length, count and enum is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from errors import ConfigError

MAX_SHOWN = 10  # violations listed before "and N more"


class LimitError(ConfigError):
    """A request exceeds a documented limit; one line per violation."""


def violations(value: Any, shape: Shape, path: str = "") -> Iterator[str]:
    """Each place where `value` breaks a limit of `shape`, as "<place> <what>; <the limit>"."""
    where = path or shape.name
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                yield from violations(item, shape.members[key], f"{path}.{key}" if path else key)
        return
    if isinstance(shape, ListShape) and isinstance(value, list):
        yield from _count(where, len(value), shape)
        for index, item in enumerate(value):
            yield from violations(item, shape.member, f"{where}.{index}")
        return
    if isinstance(shape, MapShape) and isinstance(value, dict):
        yield from _count(where, len(value), shape)
        for key, item in value.items():
            yield from _scalar(f"{where} key {_shown(key)}", key, shape.key)
            yield from violations(item, shape.value, f"{where}.{key}")
        return
    yield from _scalar(where, value, shape)


def _count(where: str, count: int, shape: Shape) -> Iterator[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if high is not None and count > high:
        yield f"{where} has {count} entries; SageMaker allows at most {high}"
    if low is not None and count < low:
        yield f"{where} has {count} entries; SageMaker requires at least {low}"


def _scalar(where: str, value: Any, shape: Shape) -> Iterator[str]:
    metadata = shape.metadata
    if isinstance(value, str):
        low, high = metadata.get("min"), metadata.get("max")
        if high is not None and len(value) > high:
            yield f"{where} is {len(value)} characters long; SageMaker allows at most {high}"
        elif low is not None and len(value) < low:
            yield f"{where} is {len(value)} characters long; SageMaker requires at least {low}"
        enum = metadata.get("enum")
        if enum and value not in enum:
            yield f"{where} is {value!r}; SageMaker accepts only {', '.join(enum)}"
        pattern = _compiled(metadata.get("pattern", ""))
        if pattern is not None and not pattern.fullmatch(value):
            yield f"{where} is {_shown(value)}, which does not match {pattern.pattern!r}"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        low, high = metadata.get("min"), metadata.get("max")
        if high is not None and value > high:
            yield f"{where} is {value}; SageMaker allows at most {high}"
        elif low is not None and value < low:
            yield f"{where} is {value}; SageMaker requires at least {low}"


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None  # a Java-only construct: not checked (module docstring)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else f"{value[:57]}...")


def check_limits(request: dict[str, Any], shape: Shape, *, operation: str, source: str) -> None:
    """Raise LimitError listing every violation, one line each, naming where the package is.

    Args:
        request: the request as it would be sent (copies' URIs and images already rewritten).
        shape: the operation's input shape.
        operation: its name, for the message.
        source: the source package ARN (where the fix belongs).
    """
    found = list(violations(request, shape))
    if not found:
        return
    lines = [f"{source}: {line} ({operation}): fix the package and register a new version"
             for line in found[:MAX_SHOWN]]  # fmt: skip
    if len(found) > MAX_SHOWN:
        lines.append(f"{source}: and {len(found) - MAX_SHOWN} more over SageMaker's limits")
    raise LimitError("\n".join(lines))
