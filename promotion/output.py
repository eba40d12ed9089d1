"""What build.py writes: Terraform inputs, the markdown summary, and copy progress."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from errors import ConfigError

PROGRESS_STEP = 10  # percent between two log lines when not on a terminal


def write_atomically(path: Path, text: str) -> None:
    """Write a file through a temporary sibling so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_tfvars(path: Path, values: Mapping[str, Any]) -> None:
    """Write Terraform variables as stable, sorted JSON."""
    write_atomically(path, json.dumps(dict(values), indent=2, sort_keys=True) + "\n")


def summary_markdown(title: str, rows: list[tuple[str, str]], extra: str = "") -> str:
    """A markdown table of the promotion, for the console and GitHub job summaries."""
    lines = [f"### {title}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value.replace('|', '/')} |" for key, value in rows]
    return "\n".join(lines) + "\n" + (f"\n{extra}\n" if extra else "")


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Rows as aligned plain-text columns, for a terminal (no Markdown)."""
    cells = [list(headers), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, indent + "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows as a Markdown table, for GitHub job summaries."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_text(title: str, rows: list[tuple[str, str]]) -> str:
    """The promotion summary as aligned `key  value` lines, for the terminal."""
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join([title, *(f"  {key:<{width}}  {value}" for key, value in rows)])


def append_step_summary(markdown: str) -> None:
    """Append to `$GITHUB_STEP_SUMMARY` when running in GitHub Actions."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as summary:
            summary.write(markdown + "\n")


def progress_reporter(stream: TextIO = sys.stderr) -> Callable[[str, int], Callable[[int], None]]:
    """A progress factory: a bar on a terminal, a line every 10 % otherwise."""

    def start(uri: str, total: int) -> Callable[[int], None]:
        lock = threading.Lock()
        state = {"done": 0, "reported": 0}
        on_terminal = stream.isatty()

        def advance(amount: int) -> None:
            with lock:
                state["done"] += amount
                percent = min(100, state["done"] * 100 // max(total, 1))
                if on_terminal:
                    bar = "#" * (percent // 4)
                    stream.write(f"\r{uri} [{bar:<25}] {percent:3d}%")
                    if percent == 100:
                        stream.write("\n")
                elif percent // PROGRESS_STEP > state["reported"] // PROGRESS_STEP:
                    state["reported"] = percent
                    mib = state["done"] / 1024**2
                    stream.write(f"{uri}: {percent}% ({mib:.0f} MiB of {total / 1024**2:.0f})\n")
                stream.flush()

        return advance

    return start


def check_writable_dir(path: Path, *, flag: str = "--output-dir") -> None:
    """Prove that `path` can take the outputs, before any AWS call; leaves nothing behind.

    `flag` is the option the message tells the user to change.

    Raises:
        ConfigError: one line naming the directory and why it cannot take the outputs.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is not a directory"
    elif existing == path:
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
                pass
        except OSError as error:
            problem = error.strerror or str(error)
    else:
        # Creating is the only proof: root passes os.access() checks on /proc and read-only mounts.
        try:
            os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".write-check-"))
        except OSError as error:
            problem = f"nothing can be created in {existing}: {error.strerror or error}"
    if problem:
        raise ConfigError(
            f"output directory {path} cannot be written ({problem}); pass a writable {flag}"
        )
