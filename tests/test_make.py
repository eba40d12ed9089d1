"""The Makefile's help is the default and complete; pre-commit runs exactly `make lint`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def _recipe(target: str) -> list[str]:
    """The command lines of one Makefile rule."""
    body = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, re.M)
    assert body, target
    return [line.strip() for line in body.group(1).splitlines()]


def test_bare_make_lists_every_target() -> None:
    # GIVEN the phony targets the Makefile declares
    phony = re.search(r"^\.PHONY: (.+)$", MAKEFILE, re.M)
    assert phony
    targets = phony.group(1).split()

    # WHEN make runs with no target
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT)], capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip

    # THEN it only prints help, naming every target with a description
    listed = re.findall(r"^  ([\w-]+) +\S", done.stdout, re.M)
    assert listed == targets


def test_pre_commit_runs_the_lint_recipe() -> None:
    # GIVEN the lint recipe and the pre-commit hooks
    lint = [line.replace("$(PY)", ".venv/bin/python") for line in _recipe("lint")]
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))

    # THEN the hooks run the same commands, in the same order, from the same environment
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    assert entries == lint


def test_the_longest_test_files_scheduled_first_exist() -> None:
    from tests.conftest import SLOWEST_FIRST

    missing = [path for path in SLOWEST_FIRST if not (ROOT / path).is_file()]
    assert missing == [], f"tests/conftest.py SLOWEST_FIRST names files that are gone: {missing}"
