"""Transform request settings: limits, /execution-parameters, record boundaries, user code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipelines.local import RunOptions, RunResult, run_definition
from pipelines.local.container import user_module
from pipelines.local.dataprocessing import DataProcessing
from pipelines.local.errors import StepError
from pipelines.local.transform import TransformConfig, TransformRun
from tests.local.local_helpers import get, put, register_package, transform_definition

ROWS = "3,0,0\n-3,0,0\n"
# Answers each request with the number of records it held.
COUNTING_MODULE = """
def model_fn(d):
    return None

def transform_fn(model, body, ct, accept):
    return f"{len(body.splitlines())}\\n", "text/csv"
"""
EXECUTION_PARAMETERS = """
def execution_parameters_fn():
    import json
    params = {"MaxConcurrentTransforms": 2, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 1}
    return json.dumps(params), "application/json"
"""


def run(session: boto3.Session, definition: dict[str, Any], arn: str) -> RunResult:
    return run_definition(
        definition,
        parameters={},
        session=session,
        model_package_arn=arn,
        log=lambda _: None,
        options=RunOptions(assemble_line_newline="if_missing"),
    )


def request(**extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = transform_definition()["Steps"][0]["Arguments"]
    return {**args, "ModelName": "m", **extra}


def test_output_filter_with_assemble_none_keeps_one_record_per_line(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN an OutputFilter and AssembleWith=None
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    definition = transform_definition(assemble_with="None", DataProcessing={"OutputFilter": "$[0]"})
    # WHEN the transform runs
    assert run(session, definition, arn).status == "Succeeded"
    # THEN the filtered records do not run together
    assert get(session, "output/a.csv.out") == b"1\n0\n"


def test_json_join_with_assemble_none_keeps_one_document_per_line(
    session: boto3.Session, tiny_model: Any
) -> None:
    module = (
        "def model_fn(d):\n    return None\ndef transform_fn(m, b, c, a):\n    return '[1, 0]'\n"
    )
    arn = register_package(session, tiny_model, module)
    put(session, "input/a.json", '{"id": 1}\n{"id": 2}\n')
    definition = transform_definition(
        content_type="application/json",
        accept="application/json",
        assemble_with="None",
        DataProcessing={"JoinSource": "Input"},
    )
    assert run(session, definition, arn).status == "Succeeded"
    assert get(session, "output/a.json.out") == (
        b'{"id": 1, "SageMakerOutput": 1}\n{"id": 2, "SageMakerOutput": 0}\n'
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [({}, b"1\n1\n"), ({"BatchStrategy": "MultiRecord"}, b"2\n")],
)
def test_execution_parameters_fill_what_the_request_leaves_unset(
    session: boto3.Session, tiny_model: Any, extra: dict[str, Any], expected: bytes
) -> None:
    # GIVEN a user module whose /execution-parameters asks for SINGLE_RECORD
    arn = register_package(session, tiny_model, COUNTING_MODULE + EXECUTION_PARAMETERS)
    put(session, "input/a.csv", ROWS)
    # WHEN the request sets no BatchStrategy (or sets one)
    assert run(session, transform_definition(**extra), arn).status == "Succeeded"
    # THEN the container's value applies, unless the request's wins
    assert get(session, "output/a.csv.out") == expected


def test_execution_parameters_precedence_in_the_config() -> None:
    # GIVEN the container's parameters and a request that sets only MaxPayloadInMB
    params = {"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 1}
    args = request(MaxPayloadInMB=2)
    # WHEN they are combined
    cfg = TransformConfig.parse(args).with_execution_parameters(args, params)
    # THEN request > /execution-parameters > defaults
    assert (cfg.workers, cfg.strategy, cfg.payload_limit) == (4, "SingleRecord", 2 * 1024 * 1024)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"BatchStrategy": "MultiRecord"}, "BatchStrategy must be one of"),
        ({"MaxPayloadInMB": 101}, "MaxPayloadInMB must be 0-100"),
        ({"MaxConcurrentTransforms": "many"}, "MaxConcurrentTransforms must be an integer"),
    ],
)
def test_invalid_execution_parameters_fail_the_step(params: dict[str, Any], message: str) -> None:
    args = request()
    with pytest.raises(StepError, match=message):
        TransformConfig.parse(args).with_execution_parameters(args, params)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"MaxConcurrentTransforms": 20, "MaxPayloadInMB": 6}, "20 x 6 = 120"),
        ({"BatchStrategy": "SingleRecord", "SplitType": "None"}, "needs a SplitType other"),
        ({"BatchStrategy": "Single"}, "BatchStrategy must be one of"),
        ({"MaxConcurrentTransforms": "x"}, "MaxConcurrentTransforms must be an integer"),
    ],
)
def test_request_limits_are_checked(extra: dict[str, Any], message: str) -> None:
    # GIVEN a request breaking one of CreateTransformJob's rules
    args = request(**{k: v for k, v in extra.items() if k != "SplitType"})
    if "SplitType" in extra:
        args["TransformInput"] = {**args["TransformInput"], "SplitType": extra["SplitType"]}
    # WHEN it is parsed THEN the step fails with the rule
    with pytest.raises(StepError, match=message):
        TransformConfig.parse(args)


def test_request_at_the_limit_is_accepted() -> None:
    cfg = TransformConfig.parse(request(MaxConcurrentTransforms=10, MaxPayloadInMB=10))
    assert (cfg.workers, cfg.payload_limit) == (10, 10 * 1024 * 1024)


def test_a_broken_request_fails_the_step_not_the_run(
    session: boto3.Session, tiny_model: Any
) -> None:
    arn = register_package(session, tiny_model)
    definition = transform_definition(MaxConcurrentTransforms=50, MaxPayloadInMB=6)
    result = run(session, definition, arn)
    assert result.status == "Failed"
    assert "MaxConcurrentTransforms x MaxPayloadInMB" in (result.steps[0].failure_reason or "")


def test_unsplit_object_with_data_processing_stops_at_the_payload_limit() -> None:
    # GIVEN SplitType None, an InputFilter and a 1 MB limit, over an 8 MiB object
    args = request(MaxPayloadInMB=1)
    args["TransformInput"] = {**args["TransformInput"], "SplitType": "None"}
    cfg = TransformConfig.parse(args)
    processing = DataProcessing.from_request(
        {"InputFilter": "$[0]"}, content_type="text/csv", accept="text/csv",
        split_type="None", assemble_with="Line", inclusive=True,
    )  # fmt: skip
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(16):  # 8 MiB in 512 KiB chunks
            read.append(1)
            yield b"1," * (256 * 1024)

    # WHEN its requests are built THEN it fails once the limit is passed, not at the end
    with pytest.raises(StepError, match="larger than MaxPayloadInMB"):
        next(TransformRun(None, cfg, processing, RunOptions())._records(chunks()))  # type: ignore[arg-type]
    assert len(read) == 3


def test_user_code_leaves_no_trace_between_runs(tmp_path: Path) -> None:
    # GIVEN two code directories whose modules import a sibling with the same name
    dirs = []
    for value in ("first", "second"):
        code = tmp_path / value
        code.mkdir()
        (code / "local_sibling_helper.py").write_text(f"VALUE = {value!r}\n")
        (code / "inference.py").write_text("import local_sibling_helper as h\nVALUE = h.VALUE\n")
        dirs.append(code)
    path_before = list(sys.path)
    # WHEN each is loaded in turn
    values = []
    for code in dirs:
        with user_module(code, "inference.py") as module:
            values.append(module.VALUE)
    # THEN each run sees its own sibling, and sys.path and sys.modules are as before
    assert values == ["first", "second"]
    assert sys.path == path_before
    assert "local_sibling_helper" not in sys.modules
