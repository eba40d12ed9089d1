"""This repository as the rendering of its own template: its own copies of a model's files.

    python scripts/template_self.py [--write]

A model repository's stage files and bootstrap settings are rendered from template/ (Copier's
_subdirectory); this repository holds the same files for its own demo model. Renders each
`template/X.jinja` of them with copier.yml's delimiters and this repository's answers
(tests/fleet/this-repository.yml) and compares it with `X`; `--write` replaces `X` (`make
docs`). Edit the `.jinja` file, then run it: the two never drift apart.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import jinja2
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
ANSWERS = REPO_ROOT / "tests" / "fleet" / "this-repository.yml"
TEMPLATE = "template"  # copier.yml's _subdirectory
# The files of a model repository this repository has too, for its own model.
SELF = ("pre-prod-config.tfvars.json", "prod-config.tfvars.json", "bootstrap/settings.tfvars.json")


def templates(root: Path = REPO_ROOT) -> list[Path]:
    """The `.jinja` files under template/ of which this repository holds the rendering."""
    return [root / TEMPLATE / f"{name}.jinja" for name in SELF]


def target_of(template: Path, root: Path = REPO_ROOT) -> Path:
    """Where this repository holds the rendering of `template`."""
    return root / template.relative_to(root / TEMPLATE).with_suffix("")


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
    answers = yaml.safe_load(ANSWERS.read_text(encoding="utf-8"))
    env = environment()
    stale = []
    for template in templates():
        target = target_of(template)
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
