"""Processing steps and whole runs: paths, S3Prefix naming, failures and wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from pipelines.local import RunOptions, run_definition
from pipelines.local.processing import map_path
from pipelines.local.s3io import relative_name
from tests.local.local_helpers import BUCKET, get, keys, put

SCRIPT = """
import argparse, os, pathlib, sys
parser = argparse.ArgumentParser()
parser.add_argument("--input")
parser.add_argument("--output")
parser.add_argument("--fail", default="no")
args = parser.parse_args()
files = [p for p in pathlib.Path(args.input).rglob("*") if p.is_file()]
names = sorted(str(p.relative_to(args.input)) for p in files)
pathlib.Path(args.output, "listing.txt").write_text("\\n".join(names))
pathlib.Path(args.output, "sub").mkdir()
pathlib.Path(args.output, "sub", "exe.txt").write_text(sys.executable)
if args.fail == "yes":
    print("first line\\nsomething broke: bad row 7", file=sys.stderr)
    sys.exit(3)
"""


def s3_input(name: str, uri: Any, local: str) -> dict[str, Any]:
    source = {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}
    return {"InputName": name, "S3Input": source}


def processing_step(name: str, source: Any, fail: str = "no") -> dict[str, Any]:
    output_uri = {
        "Std:Join": {
            "On": "/",
            "Values": ["s3:/", BUCKET, "runs", {"Get": "Execution.PipelineExecutionId"}, name],
        }
    }
    output = {
        "S3Uri": output_uri,
        "LocalPath": "/opt/ml/processing/out",
        "S3UploadMode": "EndOfJob",
    }
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ImageUri": "sklearn:1.4",
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/step.py"],
                "ContainerArguments": [
                    "--input",
                    "/opt/ml/processing/input/data",
                    "--output=/opt/ml/processing/out",
                    "--fail",
                    fail,
                ],  # fmt: skip
            },
            "ProcessingInputs": [
                s3_input("data", source, "/opt/ml/processing/input/data"),
                s3_input("code", f"s3://{BUCKET}/code/step.py", "/opt/ml/processing/input/code"),
            ],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "result", "S3Output": output}]},
        },
    }


def definition(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Parameters": [], "Steps": list(steps)}


def test_relative_name_follows_the_service() -> None:
    assert relative_name("data/train", "data/train/x.csv") == "x.csv"
    assert relative_name("data/train/", "data/train/sub/x.csv") == "sub/x.csv"
    assert relative_name("data/train", "data/train-data.csv") == "train-data.csv"
    assert relative_name("data/train.csv", "data/train.csv") == "train.csv"


def test_map_path_rewrites_container_paths_only() -> None:
    root = Path("/w")
    assert map_path("--x=/opt/ml/processing/a", root) == "--x=/w/opt/ml/processing/a"
    assert map_path("/opt/ml/processing/a", root) == "/w/opt/ml/processing/a"
    assert map_path("/data/opt/ml/x", root) == "/data/opt/ml/x"


def test_chained_steps_read_each_others_outputs(session: boto3.Session, tmp_path: Path) -> None:
    # GIVEN input objects sharing a string prefix, and two chained processing steps
    put(session, "code/step.py", SCRIPT)
    put(session, "data/in/a.csv", "1")
    put(session, "data/in/nested/b.csv", "2")
    put(session, "data/in-extra.csv", "3")
    first = processing_step("First", f"s3://{BUCKET}/data/in")
    second = processing_step(
        "Second", {"Get": "Steps.First.ProcessingOutputConfig.Outputs['result'].S3Output.S3Uri"}
    )
    # WHEN the run happens (steps listed in reverse order)
    lines: list[str] = []
    result = run_definition(
        definition(second, first),
        parameters={},
        session=session,
        work_dir=tmp_path,
        log=lines.append,
    )
    # THEN both succeed in dependency order and outputs land under the execution id
    assert result.status == "Succeeded"
    assert [s.name for s in result.steps] == ["First", "Second"]
    prefix = f"runs/{result.execution_id}"
    assert result.outputs["First"]["result"] == f"s3://{BUCKET}/{prefix}/First"
    # AND S3Prefix semantics: the partial match keeps its full basename
    listing = get(session, f"{prefix}/First/listing.txt").decode().splitlines()
    assert listing == ["a.csv", "in-extra.csv", "nested/b.csv"]
    assert get(session, f"{prefix}/Second/listing.txt") == b"listing.txt\nsub/exe.txt"
    # AND python3 ran as this interpreter; the log shows status and time per step
    assert get(session, f"{prefix}/First/sub/exe.txt").decode().endswith("python")
    assert any(line.startswith("[Second] Succeeded in ") for line in lines)


@pytest.mark.parametrize(("upload", "expected"), [(False, 0), (True, 2)])
def test_non_zero_exit_fails_with_stderr_tail_and_stops_the_run(
    session: boto3.Session, upload: bool, expected: int
) -> None:
    put(session, "code/step.py", SCRIPT)
    put(session, "data/in/a.csv", "1")
    first = processing_step("First", f"s3://{BUCKET}/data/in", fail="yes")
    second = processing_step("Second", f"s3://{BUCKET}/data/in")
    second["DependsOn"] = ["First"]
    result = run_definition(
        definition(first, second),
        parameters={},
        session=session,
        log=lambda _: None,
        options=RunOptions(upload_outputs_on_failure=upload),
    )
    assert result.status == "Failed"
    assert [(s.name, s.status) for s in result.steps] == [
        ("First", "Failed"),
        ("Second", "NotStarted"),
    ]
    reason = result.steps[0].failure_reason or ""
    assert "exited with 3" in reason and "something broke: bad row 7" in reason
    assert len(keys(session, "runs/")) == expected


def test_missing_input_prefix_fails_the_step(session: boto3.Session) -> None:
    put(session, "code/step.py", SCRIPT)
    step = processing_step("First", f"s3://{BUCKET}/nothing-here/")
    result = run_definition(definition(step), parameters={}, session=session, log=lambda _: None)
    assert result.status == "Failed"
    assert "no objects under" in (result.steps[0].failure_reason or "")


def test_environment_paths_are_mapped_like_arguments(session: boto3.Session) -> None:
    # GIVEN a script that writes where an Environment value under /opt/ml/ says
    script = "import os, pathlib\npathlib.Path(os.environ['OUT'], 'env.txt').write_text('ok')\n"
    put(session, "code/step.py", script)
    put(session, "data/in/a.csv", "1")
    step = processing_step("First", f"s3://{BUCKET}/data/in")
    step["Arguments"]["Environment"] = {"OUT": "/opt/ml/processing/out"}
    # WHEN it runs
    result = run_definition(definition(step), parameters={}, session=session, log=lambda _: None)
    # THEN the value pointed into the step's container root, so the file was uploaded
    assert result.status == "Succeeded", result.steps[0].failure_reason
    assert get(session, f"runs/{result.execution_id}/First/env.txt") == b"ok"
