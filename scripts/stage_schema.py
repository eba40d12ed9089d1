"""Publish the stage config's schema: docs/stage-config.schema.json and the key table of
docs/stage-config.md (between `<!-- BEGIN_STAGE_KEYS -->` and `<!-- END_STAGE_KEYS -->`).

Both come from the one schema, `promotion.config.StageConfig`. `--write` rewrites them; `--check`
exits 1 when either is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promotion.config import REPO_ROOT, json_schema  # noqa: E402

SCHEMA_FILE = REPO_ROOT / "docs" / "stage-config.schema.json"
DOC_FILE = REPO_ROOT / "docs" / "stage-config.md"
BEGIN, END = "<!-- BEGIN_STAGE_KEYS -->", "<!-- END_STAGE_KEYS -->"


def schema_text() -> str:
    """The schema file's content."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _type(spec: dict[str, Any]) -> str:
    if "anyOf" in spec:
        kinds = [_type(option) for option in spec["anyOf"]]
        return " or ".join(kinds)
    if "$ref" in spec:
        return "object"
    if spec.get("type") == "array":
        return f"list({_type(spec.get('items', {}))})"
    if spec.get("type") == "object":
        return "map(string)"
    return {"integer": "number", "boolean": "bool"}.get(spec.get("type", ""), spec.get("type", ""))


def key_table() -> str:
    """The markdown table of every key: type, default (or required), rule and meaning."""
    schema = json_schema()
    required = set(schema.get("required", []))
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, spec in schema["properties"].items():
        fallback: dict[str, str] | None = {} if spec.get("type") == "object" else None
        value = json.dumps(spec.get("default", fallback))
        default = "required" if name in required else f"`{value}`"
        limits = [f"{k} {spec[k]}" for k in ("minimum", "maximum") if k in spec]
        description = spec.get("description", "") + (f" ({', '.join(limits)})" if limits else "")
        lines.append(f"| `{name}` | {_type(spec)} | {default} | {description} |")
    return "\n".join(lines) + "\n"


def doc_text(current: str) -> str:
    """`current` with the key table replaced."""
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{key_table()}{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """Write or check the published schema and the docs table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    doc = DOC_FILE.read_text(encoding="utf-8")
    wanted = {SCHEMA_FILE: schema_text(), DOC_FILE: doc_text(doc)}
    if args.write:
        for path, text in wanted.items():
            path.write_text(text, encoding="utf-8")
        return 0
    stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text("utf-8") != text]
    if args.check and stale:
        print(f"stale: {', '.join(map(str, stale))}; run scripts/stage_schema.py --write")
        return 1
    if not args.check:
        sys.stdout.write(wanted[SCHEMA_FILE])
    return 0


if __name__ == "__main__":
    sys.exit(main())
