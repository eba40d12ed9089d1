"""This repository as the rendering of its own template: every file with a `.jinja` sibling.

    python scripts/template_self.py [--write]

Renders each `X.jinja` (but the answers file) with copier.yml's delimiters and this repository's
answers (tests/fleet/this-repository.yml) and compares it with `X`; `--write` replaces `X`
(`make docs`). Edit the `.jinja` file, then run it: the two never drift apart.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import jinja2
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
ANSWERS = REPO_ROOT / "tests" / "fleet" / "this-repository.yml"
GENERATED = {"build", "demo-output", "node_modules", "__pycache__"}
SKIPPED = {".copier-answers.yml.jinja"}  # Copier's own; this repository has no answers file


def templates(root: Path = REPO_ROOT) -> list[Path]:
    """The `.jinja` files of the template (Copier renders them to the name without `.jinja`)."""
    found = []
    for directory, subdirectories, files in os.walk(root):
        # Never into environments, git or generated trees (a stray copy there is not ours).
        subdirectories[:] = [d for d in subdirectories if d not in GENERATED and d[0] != "."]
        found += [Path(directory, f) for f in files if f.endswith(".jinja") and f not in SKIPPED]
    return sorted(found)


def environment(root: Path = REPO_ROOT) -> jinja2.Environment:
    """Jinja as Copier runs it for this template (copier.yml's `_envops`)."""
    options = yaml.safe_load((root / "copier.yml").read_text(encoding="utf-8"))["_envops"]
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, **options)


def rendered(path: Path, answers: dict[str, object], env: jinja2.Environment) -> str:
    """One template rendered with `answers`."""
    return env.from_string(path.read_text(encoding="utf-8")).render(**answers)


def main(argv: Sequence[str] | None = None) -> int:
    """Compare (or, with --write, replace) every rendering; exit 1 when one differs."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the renderings")
    args = parser.parse_args(argv)
    found = templates()
    if not found:  # a model's repository made from the template: nothing is rendered here
        return 0
    answers = yaml.safe_load(ANSWERS.read_text(encoding="utf-8"))
    env = environment()
    stale = []
    for template in found:
        target = template.with_suffix("")
        text = rendered(template, answers, env)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        if args.write:
            target.write_text(text, encoding="utf-8")
        else:
            stale.append(str(target.relative_to(REPO_ROOT)))
    if stale:
        names = ", ".join(stale)
        print(f"not the rendering of its .jinja: {names}: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
