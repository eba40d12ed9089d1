"""IAM condition evaluation as AWS documents it, for testbed/enforcement/__init__.py (correction 7).

moto knows only `StringEquals`, passes a condition whose key the request lacks or whose operator
it does not know, and turns an Allow whose condition fails into an explicit Deny. AWS ("IAM JSON
policy elements: Condition operators", IAM User Guide):
- a statement applies only when all its conditions hold; one that does not apply is neutral;
- a key absent from the request context makes a condition false, except with `...IfExists`,
  `Null` and negated operators (`StringNotEquals`, `ArnNotLike`, ...), which then hold;
- `ForAllValues:` holds when every request value matches (also when there is none),
  `ForAnyValue:` when at least one does;
- `ArnEquals` and `ArnLike` both accept `*` and `?` wildcards.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Values = str | Sequence[str]
Context = Mapping[str, Values]


def _like(expected: str, actual: str) -> bool:
    return fnmatch.fnmatchcase(actual, expected.replace("[", "[[]"))


_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringLike": _like,
    "ArnEquals": _like,
    "ArnLike": _like,
    "Bool": lambda expected, actual: actual.lower() == expected.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def condition_holds(operator: str, key: str, expected: Any, context: Context) -> bool:
    """One key of one condition operator.

    Raises:
        ValueError: an operator these tests do not evaluate (so no condition passes unseen).
    """
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists") and name != "IfExists"
    name = name.removesuffix("IfExists") if if_exists else name
    present = key in context
    if name == "Null":
        return (not present) is (str(expected).lower() == "true")
    negated = name in _NEGATED
    matcher = _MATCHERS.get(_NEGATED.get(name, name))
    if matcher is None or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise ValueError(f"condition operator {operator!r} is not evaluated by tests/iam")
    if not present:
        return if_exists or negated or qualifier == "ForAllValues"
    wanted, actual = _as_list(expected), _as_list(context[key])

    def matches(value: str) -> bool:
        return any(matcher(pattern, value) for pattern in wanted)

    if qualifier == "ForAllValues":
        found = all(matches(value) for value in actual)
    else:
        found = any(matches(value) for value in actual)
    return not found if negated else found


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]] | None, context: Context) -> bool:
    """Whether a statement's whole Condition block holds (all operators, all keys)."""
    return all(
        condition_holds(operator, key, expected, context)
        for operator, keys in (conditions or {}).items()
        for key, expected in keys.items()
    )
