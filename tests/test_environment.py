"""A command run with a Python that lacks the project's packages says `make setup` in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["build.py", "--help"],
        ["-m", "pipelines.run_pipeline", "--help"],
        ["-m", "pipelines.get_pipeline_definition", "--help"],
        ["-m", "demo", "--help"],
        ["-m", "bench"],
    ],
)
def test_without_the_environment_one_line_names_make_setup(command: list[str]) -> None:
    # GIVEN a Python without any installed package (-S: no site-packages, as a bare python3)
    # WHEN a command of the README runs with it
    done = subprocess.run([sys.executable, "-S", *command], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    # THEN one line names the missing packages and `make setup`, exit 1, no traceback
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "lacks the project's packages (boto3" in done.stderr
    assert "run `make setup`, then use .venv/bin/python" in done.stderr


def test_a_kept_local_run_stays_below_pytests_basetemp(
    temporary_files_under_basetemp: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The local runner keeps a failed run's logs in a temporary directory until the user deletes
    # it; in the tests that directory is below pytest's basetemp, for this process and children.
    import tempfile

    made = Path(tempfile.mkdtemp(prefix="local-run-"))
    child = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.mkdtemp())"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    base = tmp_path_factory.getbasetemp()
    assert made.parent == temporary_files_under_basetemp and base in made.parents
    assert base in Path(child).parents
