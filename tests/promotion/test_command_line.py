"""Command-line values get the stage file's rules: no control characters in any ARN or name, and
an output directory that cannot be created ends in one line (exit 2), before any AWS call."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import build
from pipelines import baseline, compare, get_pipeline_definition, run_pipeline, smoke

ROLE = "arn:aws:iam::222222222222:role/deploy"
PACKAGE = "arn:aws:sagemaker:us-east-1:111111111111:model-package/breast-cancer-classifier/2"
CLI = Callable[[Sequence[str]], int]

# (CLI, argv with one value ending in a newline, the flag it is given to)
WITH_A_NEWLINE: list[tuple[str, CLI, list[str], str]] = [
    ("build --target-role-arn", build.main,
     ["--stage", "pre-prod", "--target-role-arn", f"{ROLE}\n"], "--target-role-arn"),
    ("build --source-role-arn", build.main,
     ["--stage", "pre-prod", "--source-role-arn", f"{ROLE}\r"], "--source-role-arn"),
    ("build --model-package-arn", build.main,
     ["--stage", "prod", "--model-package-arn", f"{PACKAGE}\n"], "--model-package-arn"),
    ("run_pipeline --pipeline-name", run_pipeline.main,
     ["--stage", "pre-prod", "--pipeline-name", "p\n"], "--pipeline-name"),
    ("run_pipeline --role-arn", run_pipeline.main,
     ["--stage", "pre-prod", "--role-arn", f"{ROLE}\n"], "--role-arn"),
    ("run_pipeline --parameter", run_pipeline.main,
     ["--stage", "pre-prod", "--parameter", "ModelName=m\n"], "--parameter"),
    ("compare --role-arn", compare.main,
     ["--stage", "pre-prod", "--find-champion", "--role-arn", f"{ROLE}\x00"], "--role-arn"),
    ("get_pipeline_definition --model-name", get_pipeline_definition.main,
     ["--stage", "pre-prod", "--model-name", "m\n", "--model-package-version", "1"],
     "--model-name"),
    ("baseline --input", baseline.main,
     ["--input", "data.csv\n", "--output", "out"], "--input"),
]  # fmt: skip


def refused_with_exit_2(cli: CLI, argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Run the CLI on `argv`, which it must refuse with exit 2; the lines it wrote to stderr."""
    with pytest.raises(SystemExit) as stopped:
        cli(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


# (CLI, a command line it refuses, what the one line names)
REFUSED: list[tuple[str, CLI, list[str], str]] = [
    ("build without --stage", build.main, ["--dry-run"], "--stage"),
    ("run_pipeline without --stage", run_pipeline.main, ["--wait"], "--stage"),
    ("compare with an unknown flag", compare.main, ["--stage", "pre-prod", "--champ"], "--champ"),
    ("smoke without --input", smoke.main, ["--stage", "pre-prod", "--run-id", "1"], "--input"),
    ("smoke with a date not YYYY-MM-DD", smoke.main,
     ["--stage", "pre-prod", "--run-id", "1", "--input", __file__, "--date", "20261201"],
     "--date: '20261201' is not a date like 2026-12-01 (YYYY-MM-DD)"),
    ("smoke with a date not in the calendar", smoke.main,
     ["--stage", "pre-prod", "--run-id", "1", "--input", __file__, "--date", "2026-02-30"],
     "--date: '2026-02-30' is not a date"),
]  # fmt: skip


@pytest.mark.parametrize(("cli", "argv", "named"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])  # fmt: skip
def test_a_command_line_refused_is_one_line_with_exit_2(
    cli: CLI, argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused_with_exit_2(cli, argv, capsys)
    assert len(error) == 1 and named in error[0] and "--help" in error[0], error


@pytest.mark.parametrize(("cli", "argv", "flag"), [c[1:] for c in WITH_A_NEWLINE],
                         ids=[c[0] for c in WITH_A_NEWLINE])  # fmt: skip
def test_a_control_character_in_a_value_is_refused_with_exit_2(
    cli: CLI, argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a value pasted with a control character (a trailing newline, say)
    # WHEN the CLI parses its command line
    # THEN it stops with exit 2 and the error line names the flag and the control character;
    # nothing ran (no credentials are configured here: any AWS call would fail otherwise)
    error = [line for line in refused_with_exit_2(cli, argv, capsys) if "error:" in line]
    assert len(error) == 1 and flag in error[0] and "control character" in error[0]


def test_a_role_arn_with_a_trailing_newline_is_no_role_arn() -> None:
    # GIVEN the stage file's role ARN rule, used for the command line too
    from promotion.config import is_role_arn

    # WHEN an ARN with a trailing newline is checked THEN it does not pass ("$" alone would)
    assert is_role_arn(ROLE)
    assert not is_role_arn(f"{ROLE}\n")


UNCREATABLE = ["/proc/batch-inference/out", "/sys/batch-inference", "/proc"]


def _read_only_dir(tmp_path: Path) -> Path:
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o500)
    return parent / "out"


@pytest.mark.parametrize("where", [*UNCREATABLE, "read-only", "below-a-file"])
def test_an_output_dir_that_cannot_be_created_ends_in_one_line(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an output directory under /proc or /sys, below a directory nobody may write, or
    # below a file
    if where == "read-only":
        target = _read_only_dir(tmp_path)
        if _creatable(target):
            # As root permission bits do not stop writes: answer as the kernel answers anyone else.
            monkeypatch.setattr(tempfile, "mkdtemp", _permission_denied)
    elif where == "below-a-file":
        (tmp_path / "a-file").write_text("")
        target = tmp_path / "a-file" / "out"
    else:
        target = Path(where)

    # WHEN build.py would promote into it (config, pinned ARN: no AWS call happens before)
    code = build.main(["--stage", "pre-prod", "--output-dir", str(target),
                       "--model-package-arn", PACKAGE])  # fmt: skip

    # THEN one line names the directory, exit 2, no traceback
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot be written" in lines[0] and str(target) in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "cli", "argv"),
    [
        ("compare", compare.main,
         ["--stage", "pre-prod", "--challenger", "2", "--output", "/proc/x/comparison"]),
        ("get_pipeline_definition", get_pipeline_definition.main,
         ["--stage", "pre-prod", "--model-name", "m", "--model-package-version", "1",
          "--feature-columns", "a", "--output", "/proc/x/definition.json"]),
        ("baseline", baseline.main,
         ["--input", "in.csv", "--output", "/sys/x/baseline"]),
    ],
)  # fmt: skip
def test_every_cli_refuses_an_uncreatable_output_in_one_line(
    name: str, cli: CLI, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an output path under /proc or /sys
    # WHEN the CLI runs
    code = cli(argv)

    # THEN exit 2 with one line that tells to pass a writable --output, no traceback
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (name, err)
    assert len(lines) == 1 and "pass a writable --output" in lines[0], err


def _permission_denied(*_args: object, **_kwargs: object) -> str:
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def _creatable(target: Path) -> bool:
    try:
        target.mkdir()
    except OSError:
        return False
    target.rmdir()
    return True
