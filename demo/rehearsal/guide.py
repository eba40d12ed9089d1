"""docs/going-live.md as the rehearsal runs it: its marked blocks, and pasting what they print.

A block marked `<!-- rehearsal: NAME -->` (directly before a ```bash fence) is read here and run
as written with `bash -eo pipefail`, from the repository root, by whoever NAME says. What a person
types at a prompt (`yes` for `terraform apply`, the token for `read`) comes on standard input.
`paste` does with `make bootstrap-outputs` what the guide tells a person to do: replace the
stage-file lines of the printed keys, and run the printed commands.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_BLOCK = re.compile(r"<!-- rehearsal: (?P<name>[^>]+?) -->\n```bash\n(?P<body>.*?)```", re.S)
_STAGE_FILE = re.compile(r"^# \d+\. In (?P<file>\S+), replace the lines of these keys with:$")
_COMMANDS = re.compile(r"^# \d+\. Run")


class GuideError(Exception):
    """A block of the guide failed, or what it printed cannot be pasted as the guide says."""


def blocks(guide: Path) -> dict[str, str]:
    """The guide's rehearsed blocks by name, in order."""
    found = {m.group("name"): m.group("body") for m in _BLOCK.finditer(guide.read_text())}
    if not found:
        raise GuideError(f"{guide} has no rehearsal blocks")
    return found


@dataclass(frozen=True)
class BlockRun:
    """What a block printed (stdout) and its log (everything)."""

    stdout: str
    log: Path


YES = None  # `typed` for a person who answers `yes` to every prompt


def run_block(
    body: str, *, name: str, cwd: Path, env: Mapping[str, str], typed: str | None, logs: Path
) -> BlockRun:
    """Run one block; `typed` is what the person types at its prompts (YES: `yes` at each one;
    every command of the block reads its own, as `yes | ...` gives)."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".log")
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", body]
    if typed is YES:
        with subprocess.Popen(["yes", "yes"], stdout=subprocess.PIPE) as answers:
            done = subprocess.run(command, cwd=cwd, env=dict(env), stdin=answers.stdout,
                                  capture_output=True, text=True, check=False)  # fmt: skip
            answers.kill()
    else:
        done = subprocess.run(command, cwd=cwd, env=dict(env), input=typed,
                              capture_output=True, text=True, check=False)  # fmt: skip
    log.write_text(f"$ {body}\n{done.stdout}\n--- stderr ---\n{done.stderr}", encoding="utf-8")
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise GuideError(f"block {name!r} failed ({done.returncode}): {' | '.join(tail)} ({log})")
    return BlockRun(done.stdout, log)


def paste(printed: str, *, checkout: Path, env: Mapping[str, str], logs: Path) -> list[str]:
    """Paste `make bootstrap-outputs` output as the guide says; returns the files changed.

    Stage-file lines replace the line of the same key, text for text (so the result must still
    be valid JSON: the check that the printed lines are valid as pasted); the commands run.
    """
    changed: list[str] = []
    section, target, commands = "", "", []
    for line in printed.splitlines():
        stage_file = _STAGE_FILE.match(line)
        if stage_file:
            section, target = "file", stage_file.group("file")
            continue
        if _COMMANDS.match(line):
            section = "commands"
            continue
        if line.startswith("# ") or not line.strip():
            section = "" if line.startswith("# ") else section
            continue
        if section == "file":
            _replace_key_line(checkout / target, line)
            changed.append(target)
        elif section == "commands":
            commands.append(line)
    if commands:
        run_block("\n".join(commands) + "\n", name="paste commands", cwd=checkout, env=env,
                  typed="", logs=logs)  # fmt: skip
    return sorted(set(changed))


def _replace_key_line(path: Path, pasted: str) -> None:
    key = re.match(r'^\s*"([^"]+)":', pasted)
    if not key:
        raise GuideError(f"{pasted!r} is not a stage-file line")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    matches = [i for i, line in enumerate(lines) if re.match(rf'^\s*"{key.group(1)}":', line)]
    if len(matches) != 1:
        raise GuideError(f"{path.name} has {len(matches)} lines of {key.group(1)!r} to replace")
    lines[matches[0]] = pasted + "\n"
    text = "".join(lines)
    try:
        json.loads(text)
    except ValueError as error:
        raise GuideError(f"{path.name} is not JSON once {pasted!r} is pasted: {error}") from error
    path.write_text(text, encoding="utf-8")
