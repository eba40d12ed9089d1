"""Every command the README and docs/ show in a ```console block works as shown.

`$ ` lines are commands (a trailing backslash continues them). A block right after
`<!-- not run: REASON -->` is skipped (commands that need real AWS). `make <target>` is checked
against the Makefile instead of run (the targets install and test everything), except a bare
`make`, which only prints the targets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARKER = re.compile(r"<!--\s*not run:[^>]*-->\s*$")
TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def console_commands(path: Path) -> list[Command]:
    """The `$ ` commands of the runnable ```console blocks of one page."""
    commands: list[Command] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        skipped = bool(SKIP_MARKER.search(previous))
        index += 1
        pending: list[str] = []
        start = index
        while index < len(lines) and lines[index].strip() != "```":
            line = lines[index]
            if line.startswith("$ ") or pending:
                if not pending:
                    start = index + 1
                pending.append(line[2:] if not pending else line)
                if not line.endswith("\\"):
                    text = "\n".join(pending)
                    if not skipped:
                        commands.append(Command(str(path.relative_to(ROOT)), start, text))
                    pending = []
            index += 1
    return commands


COMMANDS = [command for page in PAGES for command in console_commands(page)]
MAKE_TARGETS = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))


def test_commands_run_without_an_activated_environment() -> None:
    # A bare `python` works only once .venv is activated, which nothing tells a new user to do.
    bare = [str(c) for c in COMMANDS if c.text.split()[0] in ("python", "python3", "pytest")]
    assert not bare, f"use .venv/bin/python or a make target: {bare}"


def test_the_readme_and_docs_show_runnable_commands() -> None:
    # The README's quick start alone has several; an empty list means the parser broke.
    assert len([c for c in COMMANDS if c.page == "README.md"]) >= 4


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_documented_command_works(command: Command, tmp_path: Path) -> None:
    # GIVEN a command as a page shows it
    words = command.text.split()
    if words[0] == "make" and len(words) > 1:
        # THEN (for a make target) the target exists
        assert set(words[1:]) <= MAKE_TARGETS, f"{command}: no such make target"
        return
    # As a new user's shell: the project's environment is not activated (commands name
    # .venv/bin/python); nothing reaches a real AWS account
    venv = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(PATH=path, AWS_ENDPOINT_URL="http://127.0.0.1:9", HOME=str(tmp_path))

    # WHEN it runs from the repository root
    done = subprocess.run(
        ["bash", "-c", command.text], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=TIMEOUT_SECONDS, check=False,
    )  # fmt: skip

    # THEN it succeeds
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
