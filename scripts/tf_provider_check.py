"""Check Terraform files against the AWS provider's schema (scripts/provider_schema.py): what
`terraform validate` would say about provider types, arguments, blocks and references.

Every directory holding .tf files is one module. For each `aws_*` resource, data source and
ephemeral resource, and each `provider "aws"` block: the type exists; every argument and nested
block (`dynamic` blocks' content included) exists at its level and is written as the schema wants
(`x = ...` for arguments, `x { }` for blocks); required arguments and blocks are present. Every
reference `aws_x.name.attr` / `data.aws_x.name.attr` names a declared resource and an attribute the
schema has (arguments, blocks and computed attributes, then one level into nested blocks), with an
instance key exactly when the resource has `count` or `for_each`. Calls of local modules pass
only the child's variables, all its required ones, and read only its outputs.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from lark.exceptions import LarkError

# Sibling scripts: scripts/ is on sys.path when this file runs (tests put it there).
from provider_schema import REPO_ROOT, SchemaError, load_schema
from tf_references import check_module_calls, check_references, interface

Block = dict[str, Any]
Schema = dict[str, Any]

# Directories that hold no module of ours (hidden ones, .terraform and .venv*, are skipped too).
SKIPPED_DIRECTORIES = {"build", "demo-output", "node_modules"}
META_ARGUMENTS = {"count", "for_each", "provider", "depends_on"}
META_BLOCKS = {"lifecycle", "connection", "provisioner"}
DYNAMIC_ARGUMENTS = {"for_each", "iterator", "labels"}
KINDS = ("resource", "data", "ephemeral")


@dataclass(frozen=True)
class Finding:
    """One thing `terraform validate` would reject."""

    file: str
    address: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.address}: {self.message}"


@dataclass
class Report:
    """What was checked, and what failed."""

    files: int = 0
    modules: int = 0
    types: int = 0  # resource, data source, ephemeral and provider blocks checked
    blocks: int = 0  # nested blocks (dynamic ones included)
    arguments: int = 0
    references: int = 0
    other_providers: int = 0  # blocks of types another provider owns: not checked
    findings: list[Finding] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.files} files in {self.modules} modules: {self.types} resources/data sources/"
            f"providers, {self.blocks} nested blocks, {self.arguments} arguments, "
            f"{self.references} references checked; {len(self.findings)} findings"
        )


def terraform_modules(root: Path) -> dict[Path, list[Path]]:
    """Every directory under `root` with .tf files, and its files, found by walking the tree
    without entering skipped directories (a virtual environment holds thousands of files)."""
    modules: dict[Path, list[Path]] = {}
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name not in SKIPPED_DIRECTORIES and not name.startswith(".")
        )
        tf_files = sorted(Path(directory) / name for name in files if name.endswith(".tf"))
        if tf_files:
            modules[Path(directory)] = tf_files
    return modules


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _labelled(entries: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`(label, body)` of blocks with one label, as python-hcl2 8.x gives them."""
    for entry in entries:
        for label, body in entry.items():
            if isinstance(body, dict):
                yield _unquote(label), body


def _declared(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """`(type, name, body)` of every resource-like block of `kind` in one parsed file."""
    for entry in parsed.get(kind, []):
        for type_label, by_name in entry.items():
            for name, body in _labelled([by_name]):
                yield _unquote(type_label), name, body


def _is_block(item: Any) -> bool:
    """A block body, or a labelled block (`{"\"label\"": body}`)."""
    if not isinstance(item, dict):
        return False
    if item.get("__is_block__"):
        return True
    return len(item) == 1 and _is_block(next(iter(item.values())))


def _is_block_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_block(item) for item in value)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _hint(name: str, candidates: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _ModuleChecker:
    """Checks one module's blocks against the schema, appending to a report."""

    def __init__(self, schema: Schema, report: Report) -> None:
        self.schema = schema
        self.report = report
        self.file = ""
        self.declared: dict[str, str] = {}  # address -> file

    def finding(self, address: str, message: str) -> None:
        self.report.findings.append(Finding(self.file, address, message))

    def check_type(self, kind: str, type_name: str, name: str, body: dict[str, Any]) -> None:
        prefix = "data." if kind == "data" else ("ephemeral." if kind == "ephemeral" else "")
        address = f"{prefix}{type_name}.{name}"
        if address in self.declared:
            self.finding(address, f"declared twice (first in {self.declared[address]})")
        self.declared.setdefault(address, self.file)
        if not type_name.startswith("aws_"):
            self.report.other_providers += 1
            return
        self.report.types += 1
        known: dict[str, Block] = self.schema[kind]
        if type_name not in known:
            self.finding(
                address, f"unknown {kind} type {type_name!r}" + _hint(type_name, set(known))
            )
            return
        self.check_body(body, known[type_name], address, top=True)

    def check_provider(self, name: str, body: dict[str, Any]) -> None:
        if name != "aws":
            self.report.other_providers += 1
            return
        self.report.types += 1
        self.check_body(body, self.schema["provider_config"], f"provider.{name}", top=False)

    def check_body(
        self, body: dict[str, Any], block: Block, address: str, *, top: bool, strict: bool = True
    ) -> None:
        """Arguments and nested blocks of one body; `top` allows the meta-arguments."""
        if block.get("open"):
            return
        present: set[str] = set()
        for key, value in body.items():
            if key.startswith("__"):
                continue
            if _is_block_list(value):
                present |= self.check_nested(key, value, block, address, top=top)
            else:
                self.check_argument(key, block, address, top=top)
                present.add(key)
        if not strict:  # object-typed arguments written as blocks: no required-ness known
            return
        for name, required in block["args"].items():
            if required and name not in present:
                self.finding(address, f"required argument {name!r} is missing")
        for name, nested in block["blocks"].items():
            if nested["required"] and name not in present:
                self.finding(address, f"required block {name!r} is missing")

    def check_argument(self, key: str, block: Block, address: str, *, top: bool) -> None:
        self.report.arguments += 1
        if key in block["args"] or (top and key in META_ARGUMENTS):
            return
        if key in block["blocks"]:
            self.finding(address, f"{key!r} is a block: write `{key} {{ ... }}`, not `{key} =`")
        elif key in block["attrs"]:
            self.finding(address, f"{key!r} is computed by the provider: it cannot be set")
        else:
            self.finding(address, f"unknown argument {key!r}" + _hint(key, set(block["args"])))

    def check_nested(
        self, key: str, value: list[dict[str, Any]], block: Block, address: str, *, top: bool
    ) -> set[str]:
        """Nested blocks named `key`; returns the block names they provide."""
        if top and key in META_BLOCKS:
            return set()
        if key == "dynamic":
            return {self.check_dynamic(*labelled, block, address) for labelled in _labelled(value)}
        if len(value) > 1 and block["blocks"].get(key, {}).get("single"):
            self.finding(address, f"at most one {key!r} block is allowed, found {len(value)}")
        for body in value:
            self.report.blocks += 1
            self.check_block(key, body, block, f"{address}.{key}")
        return {key}

    def check_block(self, key: str, body: dict[str, Any], block: Block, address: str) -> None:
        if key in block["blocks"]:
            self.check_body(body, block["blocks"][key], address, top=False)
        elif key in block.get("objects", {}):
            self.check_body(body, block["objects"][key], address, top=False, strict=False)
        elif key in block["args"]:
            self.finding(address, f"{key!r} is an argument: write `{key} = ...`, not a block")
        else:
            others = set(block["blocks"]) | set(block.get("objects", {}))
            self.finding(address, f"unknown block {key!r}" + _hint(key, others))

    def check_dynamic(self, name: str, inner: dict[str, Any], block: Block, address: str) -> str:
        """One `dynamic "name" { for_each, content { } }`; returns the block name."""
        self.report.blocks += 1
        where = f"{address}.dynamic.{name}"
        for key in inner:
            if not key.startswith("__") and key not in DYNAMIC_ARGUMENTS | {"content"}:
                self.finding(where, f"unknown argument {key!r} of a dynamic block")
        if "for_each" not in inner:
            self.finding(where, "required argument 'for_each' is missing")
        contents = inner.get("content", [])
        if not _is_block_list(contents):
            self.finding(where, "a dynamic block needs a `content { ... }` block")
        for content in contents if _is_block_list(contents) else []:
            self.check_block(name, content, block, f"{where}.content")
        return name


def check_tree(root: Path, schema: Schema) -> Report:
    """Every module under `root` (see `terraform_modules`), and the calls between them."""
    report = Report()
    modules: dict[Path, dict[str, dict[str, Any]]] = {}
    for directory, files in terraform_modules(root).items():
        parsed = modules.setdefault(directory.resolve(), {})
        for path in files:
            name = str(path.relative_to(root))
            try:
                parsed[name] = dict(hcl2.loads(path.read_text(encoding="utf-8")))
            except LarkError as error:  # python-hcl2's parser; terraform would refuse it too
                report.findings.append(Finding(name, "-", f"cannot parse: {_first_line(error)}"))
    interfaces = {directory: interface(parsed) for directory, parsed in modules.items()}
    for directory, parsed in modules.items():
        check_module(parsed, schema, report)
        count, problems = check_module_calls(parsed, directory, interfaces)
        report.references += count
        report.findings += [Finding(*problem) for problem in problems]
    return report


def check_module(
    parsed: dict[str, dict[str, Any]], schema: Schema, report: Report, *, references: bool = True
) -> None:
    """One module, given as its files' content (python-hcl2 8.x) by display name."""
    report.modules += 1
    checker = _ModuleChecker(schema, report)
    for file, document in parsed.items():
        report.files += 1
        checker.file = file
        for kind in KINDS:
            for type_name, name, body in _declared(document, kind):
                checker.check_type(kind, type_name, name, body)
        for entry in document.get("provider", []):
            for name, body in _labelled([entry]):
                checker.check_provider(name, body)
    if not references:
        return
    count, problems = check_references(parsed, schema)
    report.references += count
    report.findings += [Finding(*problem) for problem in problems]


def main(argv: Sequence[str] | None = None) -> int:
    """Check every .tf file under --root; exit 1 on any finding, 2 when the schema is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        schema = load_schema()
    except SchemaError as error:
        print(f"provider schema: {error}", file=sys.stderr)
        return 2
    report = check_tree(args.root.resolve(), schema)
    status = "FAILED" if report.findings else "ok"
    schema_name = f"{schema['provider']} {schema['provider_version']}"
    print(f"provider schema: {status} ({report.summary()}; {schema_name}; ", end="")
    print(f"{time.monotonic() - started:.2f} s)")
    for finding in report.findings:
        print(f"    {finding}")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
