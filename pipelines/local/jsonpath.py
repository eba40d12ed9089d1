"""The JSONPath subset of batch transform's DataProcessing filters.

``$``, ``.name``, ``.*``/``[*]``, ``['a','b']``, ``[i,j]`` (negative allowed) and
``[start:end]``. Slices include their end index by default, as the developer guide states.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.local.errors import StepError

_TOKEN = re.compile(r"\.\*|\[\*\]|\.([A-Za-z_][A-Za-z0-9_\-]*)|\[([^\]]*)\]")
_SLICE = re.compile(r"^\s*(-?\d*)\s*:\s*(-?\d*)\s*$")
_KEY = re.compile(r"""^\s*(?:'([^']*)'|"([^"]*)")\s*$""")


@dataclass(frozen=True)
class Segment:
    """One step of a path: wildcard, keys, or indexes (``(start, end)`` for slices)."""

    wildcard: bool = False
    keys: tuple[str, ...] = ()
    indexes: tuple[int | tuple[int | None, int | None], ...] = ()

    @property
    def single(self) -> bool:
        """True when the segment selects one element (result is not wrapped in a list)."""
        return len(self.keys) + len(self.indexes) == 1 and not any(
            isinstance(i, tuple) for i in self.indexes
        )


def _bracket(body: str, expression: str) -> Segment:
    parts = [part for part in body.split(",")]
    keys = [_KEY.match(part) for part in parts]
    if all(keys):
        return Segment(keys=tuple(next(g for g in m.groups() if g is not None) for m in keys if m))
    indexes: list[int | tuple[int | None, int | None]] = []
    for part in parts:
        sliced = _SLICE.match(part)
        try:
            if sliced:
                start, end = sliced.groups()
                indexes.append((int(start) if start else None, int(end) if end else None))
            else:
                indexes.append(int(part))
        except ValueError as err:
            raise StepError(f"unsupported JSONPath {expression!r}: [{body}]") from err
    return Segment(indexes=tuple(indexes))


def parse(expression: str) -> list[Segment]:
    """Parse a filter; raise StepError naming the expression when it is outside the subset."""
    if not expression.startswith("$"):
        raise StepError(f"JSONPath {expression!r} must start with $")
    segments: list[Segment] = []
    position = 1
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise StepError(f"unsupported JSONPath {expression!r} at {expression[position:]!r}")
        name, body = match.groups()
        if name is not None:
            segments.append(Segment(keys=(name,)))
        elif body is not None and body.strip() != "*":
            segments.append(_bracket(body, expression))
        else:
            segments.append(Segment(wildcard=True))
        position = match.end()
    return segments


def _positions(
    spec: int | tuple[int | None, int | None], length: int, inclusive: bool
) -> list[int]:
    if isinstance(spec, int):
        index = spec + length if spec < 0 else spec
        if not 0 <= index < length:
            raise StepError(f"index {spec} is out of range for a record of {length} fields")
        return [index]
    start, end = spec
    first = 0 if start is None else (start + length if start < 0 else start)
    if end is None:
        last = length
    else:
        last = end + length if end < 0 else end
        last = last + 1 if inclusive else last
    if first > length or last > length:
        raise StepError(f"slice {start}:{end} is out of range for a record of {length} fields")
    return list(range(first, last))


def _apply(value: Any, segment: Segment, inclusive: bool) -> Any:
    if segment.wildcard:
        if isinstance(value, dict):
            return list(value.values())
        if not isinstance(value, list):
            raise StepError("cannot apply * to a record that is neither an object nor an array")
        return list(value)
    if segment.keys:
        if not isinstance(value, dict):
            raise StepError(f"cannot select keys {list(segment.keys)} from a non-object record")
        missing = [key for key in segment.keys if key not in value]
        if missing:
            raise StepError(f"record has no field {missing[0]!r}")
        if segment.single:
            return value[segment.keys[0]]
        return {key: value[key] for key in segment.keys}
    if not isinstance(value, list):
        raise StepError("cannot index a record that is not an array")
    picked = [i for spec in segment.indexes for i in _positions(spec, len(value), inclusive)]
    return value[picked[0]] if segment.single else [value[i] for i in picked]


def select(value: Any, segments: list[Segment], *, inclusive: bool = True) -> Any:
    """Apply parsed segments to a record (a CSV row as a list, or a JSON value)."""
    for segment in segments:
        value = _apply(value, segment, inclusive)
    return value
