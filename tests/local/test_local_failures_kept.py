"""A failed local run keeps its logs where its line says; a bad model archive is one line,
printed once."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipelines.local import run_definition
from tests.local.local_helpers import (
    BUCKET,
    DEFAULT_HOOKS_MODULE,
    put,
    register_package,
    run_transform_locally,
)
from tests.local.test_local_processing import SCRIPT, definition, processing_step


def test_a_failed_run_keeps_its_logs_where_the_line_says(session: boto3.Session) -> None:
    # GIVEN a processing step whose script fails, and no work directory of our own
    put(session, "code/step.py", SCRIPT)
    put(session, "data/a.csv", "x\n")
    lines: list[str] = []
    # WHEN the run fails
    result = run_definition(
        definition(processing_step("Prep", f"s3://{BUCKET}/data", fail="yes")),
        parameters={},
        session=session,
        log=lines.append,
    )
    # THEN the failure names a folder that still holds the step's logs (and nothing else)
    assert result.status == "Failed"
    reason = result.steps[0].failure_reason or ""
    folder = Path(re.search(r"\(logs: ([^)]+)\)", reason).group(1))  # type: ignore[union-attr]
    assert "something broke: bad row 7" in (folder / "stderr.log").read_text()
    assert not [p for p in folder.parent.rglob("*") if p.is_file() and p.suffix != ".log"]
    assert any("its logs are kept in" in line for line in lines)
    shutil.rmtree(folder.parents[1])


def test_a_run_failing_before_any_log_names_no_folder_and_leaves_none(
    session: boto3.Session,
) -> None:
    # GIVEN a processing step whose input prefix holds nothing (it fails before its script runs)
    put(session, "code/step.py", SCRIPT)
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("local-run-*"))
    lines: list[str] = []
    # WHEN the run fails
    result = run_definition(
        definition(processing_step("Prep", f"s3://{BUCKET}/nothing-here")),
        parameters={},
        session=session,
        log=lines.append,
    )
    # THEN no line names a folder of logs, and no folder is left behind
    assert result.status == "Failed"
    assert "(logs: " not in (result.steps[0].failure_reason or "")
    assert not any("its logs are kept in" in line for line in lines), lines
    assert set(temp.glob("local-run-*")) == before


def test_a_bad_model_archive_is_one_line_printed_once(
    session: boto3.Session, tiny_model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a package whose model.tar.gz is not a gzip-compressed tar
    arn = register_package(session, tiny_model, DEFAULT_HOOKS_MODULE)
    put(session, "models/local-tests/model.tar.gz", b"this is not an archive")
    put(session, "input/a.csv", "1,2,3\n4,5,6\n")
    # WHEN the local run is started from the command line
    code = run_transform_locally(session, arn, tmp_path)
    # THEN the reason is one line, printed once
    out = capsys.readouterr().out
    assert code == 1
    reasons = [line for line in out.splitlines() if "is not a readable .tar.gz" in line]
    assert len(reasons) == 1, out
    assert "not a gzip file" in reasons[0] and "tar -czf model.tar.gz" in reasons[0]
