"""Generate the Terraform requirements, inputs and outputs tables of docs/terraform.md.

`--write` rewrites docs/terraform.md between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`
only; `--check` exits 1 when that part is stale. Without either, the tables go to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parent.parent
BEGIN_MARKER = "<!-- BEGIN_TF_DOCS -->"
END_MARKER = "<!-- END_TF_DOCS -->"
DOCS_PAGE = REPO_ROOT / "docs" / "terraform.md"
OBJECT_INLINE_LIMIT = 3  # object types with more attributes get a table of their own


class DocsError(Exception):
    """The page or the module cannot be read as expected."""


@dataclass(frozen=True)
class Variable:
    """One input of the module."""

    name: str
    description: str
    type: str
    default: str | None  # rendered HCL; None when the variable is required


@dataclass(frozen=True)
class Attribute:
    """One attribute of an object-typed variable."""

    name: str
    type: str
    # optional(type, default)'s default, "null" for optional(type); None when required
    default: str | None


@dataclass(frozen=True)
class Output:
    """One output of the module."""

    name: str
    description: str


def _unquote(value: Any) -> str:
    """An HCL string literal as python-hcl2 8.x keeps it (`"\\"text\\""`), without its quotes."""
    text = str(value)
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            return text[1:-1]
    return text


def _expression(value: str) -> str:
    """An expression as python-hcl2 8.x wraps it (`${...}`), unwrapped."""
    if value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value


def _hcl(value: Any) -> str:
    """A parsed HCL value written back as HCL, for the Default column."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return value if value.startswith('"') else _expression(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(item) for item in value) + "]"
    if isinstance(value, dict):
        items = [f"{_unquote(k)} = {_hcl(v)}" for k, v in value.items() if k != "__is_block__"]
        return "{" + ", ".join(items) + "}"
    raise DocsError(f"cannot render default value {value!r}")


def _blocks(module_dir: Path, kind: str) -> Iterable[tuple[str, dict[str, Any]]]:
    """Every `kind` block of the module's top-level .tf files, as (label, body)."""
    for path in sorted(module_dir.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
        for block in parsed.get(kind, []):
            for label, body in block.items():
                yield _unquote(label), body


def read_variables(module_dir: Path) -> list[Variable]:
    """The module's variables, sorted by name."""
    variables = [
        Variable(
            name=name,
            description=_unquote(body.get("description", "")),
            type=_expression(str(body.get("type", "any"))),
            default=_hcl(body["default"]) if "default" in body else None,
        )
        for name, body in _blocks(module_dir, "variable")
    ]
    return sorted(variables, key=lambda v: v.name)


def split_top_level(text: str) -> list[str]:
    """`text` split at the commas outside brackets and quotes, each part stripped."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == '"' and text[index - 1 : index] != "\\":
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def object_attributes(type_expression: str) -> list[Attribute] | None:
    """The attributes of `object({a = string, b = optional(number, 3), ...})`, in order; None
    when the type is not an object type."""
    text = _expression(type_expression)
    if not (text.startswith("object({") and text.endswith("})")):
        return None
    attributes = []
    for part in split_top_level(text[len("object({") : -len("})")]):
        name, _, kind = (piece.strip() for piece in part.partition("="))
        default: str | None = None
        if kind.startswith("optional(") and kind.endswith(")"):
            arguments = split_top_level(kind[len("optional(") : -1])
            kind, default = arguments[0], arguments[1] if len(arguments) > 1 else "null"
        attributes.append(Attribute(name, kind, default))
    return attributes


def read_outputs(module_dir: Path) -> list[Output]:
    """The module's outputs, sorted by name."""
    outputs = [
        Output(name=name, description=_unquote(body.get("description", "")))
        for name, body in _blocks(module_dir, "output")
    ]
    return sorted(outputs, key=lambda o: o.name)


def read_requirements(module_dir: Path) -> list[tuple[str, str]]:
    """`terraform` and each required provider with its version constraint."""
    rows: list[tuple[str, str]] = []
    for path in sorted(module_dir.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
        for block in parsed.get("terraform", []):
            if "required_version" in block:
                rows.append(("terraform", _unquote(block["required_version"])))
            for providers in block.get("required_providers", []):
                for name, spec in providers.items():
                    if name != "__is_block__":
                        rows.append((name, _unquote(spec.get("version", "n/a"))))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render(module_dir: Path) -> str:
    """The markdown that belongs between the markers (without the markers)."""
    lines = ["### Requirements", "", "| Name | Version |", "|------|---------|"]
    lines += [f"| {name} | `{_cell(version)}` |" for name, version in read_requirements(module_dir)]
    lines += [
        "",
        "### Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    objects: list[tuple[Variable, list[Attribute]]] = []
    for v in read_variables(module_dir):
        default = "n/a" if v.default is None else f"`{_cell(v.default)}`"
        required = "yes" if v.default is None else "no"
        attributes = object_attributes(v.type)
        kind = f"`{_cell(v.type)}`"
        if attributes is not None and len(attributes) > OBJECT_INLINE_LIMIT:
            objects.append((v, attributes))
            kind = f"`object` ({len(attributes)} attributes, [below](#attributes-of-{v.name}))"
        lines.append(
            f'| <a name="input_{v.name}"></a> [{v.name}](#input_{v.name}) | '
            f"{_cell(v.description)} | {kind} | {default} | {required} |"
        )
    for v, attributes in objects:
        lines += ["", f"#### Attributes of {v.name}", "", "| Attribute | Type | Default |",
                  "|-----------|------|---------|"]  # fmt: skip
        lines += [
            f"| `{a.name}` | `{_cell(a.type)}` | "
            + ("required" if a.default is None else f"`{_cell(a.default)}`")
            + " |"
            for a in attributes
        ]
    lines += ["", "### Outputs", "", "| Name | Description |", "|------|-------------|"]
    lines += [
        f'| <a name="output_{o.name}"></a> [{o.name}](#output_{o.name}) | {_cell(o.description)} |'
        for o in read_outputs(module_dir)
    ]
    return "\n".join(lines)


def replace_between_markers(text: str, generated: str) -> str:
    """`text` with everything between the markers replaced by `generated`."""
    begin = text.find(BEGIN_MARKER)
    end = text.find(END_MARKER)
    if begin < 0 or end < 0 or end < begin:
        raise DocsError(f"the page must contain {BEGIN_MARKER} followed by {END_MARKER}")
    head = text[: begin + len(BEGIN_MARKER)]
    return f"{head}\n{generated}\n{text[end:]}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the page between markers")
    mode.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    parser.add_argument(
        "--page",
        type=Path,
        default=DOCS_PAGE,
        metavar="FILE",
        help="the Markdown page holding the markers (default: docs/terraform.md)",
    )
    parser.add_argument(
        "--module-dir",
        type=Path,
        default=REPO_ROOT,
        metavar="DIR",
        help="the Terraform module (default: the repository root, the stage module)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        generated = render(args.module_dir)
        if not (args.write or args.check):
            print(generated)
            return 0
        current = args.page.read_text(encoding="utf-8")
        expected = replace_between_markers(current, generated)
    except (OSError, DocsError) as error:
        print(f"tf_docs: {error}", file=sys.stderr)
        return 2
    if args.check:
        if current != expected:
            print(f"{args.page} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    if current != expected:
        args.page.write_text(expected, encoding="utf-8")
        print(f"{args.page}: Terraform tables updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
