"""References in one module's expressions, checked against the AWS provider's schema.

`aws_x.name.attr`, `data.aws_x.name.attr` and `ephemeral.aws_x.name.attr` (instance keys and
splats allowed) must name a block declared in the module and an attribute the schema has, then
one level further into a nested block; `var.x` and `local.x` must be declared. Used by
scripts/tf_provider_check.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Schema = dict[str, Any]
Problem = tuple[str, str, str]  # file, address, message

_INDEX = r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]"
_REFERENCE = re.compile(
    r"(?<![\w.])(?P<prefix>data\.|ephemeral\.)?(?P<type>aws_\w+)\.(?P<name>[A-Za-z_][\w-]*)"
    rf"(?P<rest>(?:\.\w+|\.\*|{_INDEX})*)"
)
_STEP = re.compile(rf"\.\w+|\.\*|{_INDEX}")
_KEY = re.compile(rf"\.\*|\.\d+|{_INDEX}")  # an instance key, a splat, or a legacy `.0`
_SYMBOL = re.compile(r"(?<![\w.])(?P<kind>var|local)\.(?P<name>\w+)")
_QUOTE = '"'
# Blocks whose references are addresses that may no longer (moved, removed) or not yet exist.
_ADDRESS_ONLY = {"moved", "removed", "import"}
_KIND_OF_PREFIX = {"": "resource", "data.": "data", "ephemeral.": "ephemeral"}


def interpolations(text: str) -> Iterator[str]:
    """The outermost `${ ... }` expressions of a string as python-hcl2 8.x writes it."""
    start = text.find("${")
    while start != -1:
        depth, end = 0, start + 1
        while end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        yield text[start + 2 : end]
        start = text.find("${", end)


def _strings(value: Any, address: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed value with the address of the top-level block it sits in."""
    if isinstance(value, str):
        yield address, value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, address)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not key.startswith("__"):
                yield from _strings(item, address)


def _top_level(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """`(address, body)` of each top-level block: `aws_x.name`, `output.o`, `locals`, ..."""
    for kind, entries in document.items():
        if kind.startswith("__") or kind in _ADDRESS_ONLY or not isinstance(entries, list):
            continue
        for entry in entries:
            if kind == "locals" or not isinstance(entry, dict):
                yield kind, entry
                continue
            for label, body in entry.items():
                if kind in ("resource", "data", "ephemeral") and isinstance(body, dict):
                    prefix = "" if kind == "resource" else f"{kind}."
                    for name, inner in body.items():
                        yield f"{prefix}{label.strip(_QUOTE)}.{name.strip(_QUOTE)}", inner
                elif not label.startswith("__"):
                    yield f"{kind}.{label.strip(_QUOTE)}", body


class _Declarations:
    """What a module declares: resource-like blocks (and whether they repeat), variables, locals."""

    def __init__(self, parsed: dict[str, dict[str, Any]]) -> None:
        self.repeated: dict[tuple[str, str, str], bool] = {}
        self.symbols: set[tuple[str, str]] = set()
        self.iterators: set[str] = set()  # `dynamic "aws_x" { content { aws_x.value } }`
        for document in parsed.values():
            self._find_iterators(document)
            for kind in ("resource", "data", "ephemeral"):
                for entry in document.get(kind, []):
                    for type_label, by_name in entry.items():
                        for name, body in by_name.items():
                            key = (kind, type_label.strip('"'), name.strip('"'))
                            self.repeated[key] = "count" in body or "for_each" in body
            for entry in document.get("variable", []):
                self.symbols |= {("var", label.strip('"')) for label in entry}
            for entry in document.get("locals", []):
                self.symbols |= {("local", key) for key in entry if not key.startswith("__")}

    def _find_iterators(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                self._find_iterators(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key == "dynamic" and isinstance(item, list):
                    for entry in item:
                        for label, body in entry.items():
                            iterator = body.get("iterator") if isinstance(body, dict) else None
                            self.iterators.add(str(iterator or label.strip(_QUOTE)))
                self._find_iterators(item)


def _hint(name: str, candidates: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(block: dict[str, Any]) -> set[str]:
    return (
        set(block["args"])
        | set(block["blocks"])
        | set(block["attrs"])
        | set(block.get("objects", {}))
    )


def _check_reference(match: re.Match[str], declared: _Declarations, schema: Schema) -> str | None:
    """What is wrong with one `aws_*` reference, or None."""
    kind = _KIND_OF_PREFIX[match.group("prefix") or ""]
    type_name, name = match.group("type"), match.group("name")
    where = f"{match.group('prefix') or ''}{type_name}.{name}"
    if (kind, type_name, name) not in declared.repeated:
        return f"reference to {where}, which this module does not declare"
    steps = _STEP.findall(match.group("rest"))
    keyed = bool(steps) and bool(_KEY.fullmatch(steps[0]))
    splat = keyed and steps[0] in ("[*]", ".*")
    steps = steps[1:] if keyed else steps
    attribute = steps[0][1:] if steps and not _KEY.fullmatch(steps[0]) else None
    repeated = declared.repeated[(kind, type_name, name)]
    if attribute and repeated and not keyed:
        return f"{where} has count or for_each: index it ({where}[...].{attribute})"
    if keyed and not repeated and not splat:
        return f"{where} has neither count nor for_each: drop its instance key"
    block = schema[kind].get(type_name)
    if attribute is None or block is None:  # an unknown type is reported where it is declared
        return None
    if attribute not in _names(block):
        return f"{where} has no attribute {attribute!r}" + _hint(attribute, _names(block))
    nested = block["blocks"].get(attribute) or block.get("objects", {}).get(attribute)
    further = [step[1:] for step in steps[1:] if not _KEY.fullmatch(step)]
    if nested and further and not nested.get("open") and further[0] not in _names(nested):
        return f"{where}.{attribute} has no attribute {further[0]!r}" + _hint(
            further[0], _names(nested)
        )
    return None


def check_references(
    parsed: dict[str, dict[str, Any]], schema: Schema
) -> tuple[int, list[Problem]]:
    """References of one module (its files' parsed content by file name): how many were
    checked, and the problems found."""
    declared = _Declarations(parsed)
    count, problems = 0, []
    for file, document in parsed.items():
        for address, body in _top_level(document):
            for _, text in _strings(body, address):
                for expression in interpolations(text):
                    for match in _REFERENCE.finditer(expression):
                        if not match.group("prefix") and match.group("type") in declared.iterators:
                            continue
                        count += 1
                        problem = _check_reference(match, declared, schema)
                        if problem:
                            problems.append((file, address, problem))
                    for symbol in _SYMBOL.finditer(expression):
                        count += 1
                        if (symbol.group("kind"), symbol.group("name")) not in declared.symbols:
                            problems.append((file, address, f"{symbol.group(0)} is not declared"))
    return count, problems


_MODULE_OUTPUT = re.compile(r"(?<![\w.])module\.(?P<name>\w+)(?:\[[^\]]*\])?\.(?P<output>\w+)")
_MODULE_META = {"source", "version", "count", "for_each", "providers", "depends_on"}
Interface = tuple[dict[str, bool], set[str]]  # variables (name -> required), outputs


def interface(parsed: dict[str, dict[str, Any]]) -> Interface:
    """The variables (required when they have no default) and outputs of one module."""
    variables: dict[str, bool] = {}
    outputs: set[str] = set()
    for document in parsed.values():
        for entry in document.get("variable", []):
            for label, body in entry.items():
                variables[label.strip(_QUOTE)] = "default" not in body
        for entry in document.get("output", []):
            outputs |= {label.strip(_QUOTE) for label in entry}
    return variables, outputs


def check_module_calls(
    parsed: dict[str, dict[str, Any]], directory: Path, interfaces: dict[Path, Interface]
) -> tuple[int, list[Problem]]:
    """Calls of local modules (`source = "../x"`): arguments are the child's variables, its
    required variables are given, and `module.name.output` names a declared call and an output."""
    calls: dict[str, Interface | None] = {}
    count, problems = 0, []
    for file, document in parsed.items():
        for entry in document.get("module", []):
            for label, body in entry.items():
                name, source = label.strip(_QUOTE), str(body.get("source", "")).strip(_QUOTE)
                local = source.startswith(("./", "../"))
                child = interfaces.get((directory / source).resolve()) if local else None
                calls[name] = child
                if local and child is None:
                    problems.append((file, f"module.{name}", f"{source} holds no .tf files"))
                if child is not None:
                    count += 1
                    problems += [(file, f"module.{name}", p) for p in _call_problems(body, child)]
    for file, document in parsed.items():
        for address, body in _top_level(document):
            for _, text in _strings(body, address):
                for expression in interpolations(text):
                    for match in _MODULE_OUTPUT.finditer(expression):
                        count += 1
                        problem = _output_problem(match, calls)
                        if problem:
                            problems.append((file, address, problem))
    return count, problems


def _call_problems(body: dict[str, Any], child: Interface) -> list[str]:
    variables, _ = child
    given = {key for key in body if not key.startswith("__") and key not in _MODULE_META}
    problems = [
        f"the module has no variable {key!r}{_hint(key, set(variables))}"
        for key in sorted(given - set(variables))
    ]
    problems += [
        f"required variable {name!r} is not given"
        for name, required in variables.items()
        if required and name not in given
    ]
    return problems


def _output_problem(match: re.Match[str], calls: dict[str, Interface | None]) -> str | None:
    name, output = match.group("name"), match.group("output")
    if name not in calls:
        return f"reference to module.{name}, which this module does not call"
    child = calls[name]
    if child is not None and output not in child[1]:
        return f"module.{name} has no output {output!r}" + _hint(output, child[1])
    return None
