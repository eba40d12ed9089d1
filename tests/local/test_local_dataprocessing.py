"""DataProcessing filters and joins, record by record (reference §2 DataProcessing)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.local import jsonpath
from pipelines.local.dataprocessing import DataProcessing
from pipelines.local.errors import StepError

ROW = ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize(
    ("path", "inclusive", "expected"),
    [
        ("$", True, ROW),
        ("$[1:]", True, ["b", "c", "d", "e", "f"]),
        ("$[1:4]", True, ["b", "c", "d", "e"]),  # the guide: slices include their end
        ("$[1:4]", False, ["b", "c", "d"]),
        ("$[0,5:]", True, ["a", "f"]),
        ("$[-1]", True, "f"),
        ("$[0,-1]", True, ["a", "f"]),
        ("$[*]", True, ROW),
    ],
)
def test_csv_row_selection(path: str, inclusive: bool, expected: Any) -> None:
    assert jsonpath.select(ROW, jsonpath.parse(path), inclusive=inclusive) == expected


def test_object_selection() -> None:
    doc = {"id": 1, "features": [1, 2], "meta": {"x": 3}}
    assert jsonpath.select(doc, jsonpath.parse("$.features")) == [1, 2]
    assert jsonpath.select(doc, jsonpath.parse("$.meta.x")) == 3
    assert jsonpath.select(doc, jsonpath.parse("$['id','meta']")) == {"id": 1, "meta": {"x": 3}}
    assert jsonpath.select(doc, jsonpath.parse("$.*")) == [1, [1, 2], {"x": 3}]


@pytest.mark.parametrize("path", ["$[9]", "$[2:9]", "$.missing"])
def test_out_of_range_or_missing_is_an_error(path: str) -> None:
    record: Any = {"id": 1} if "missing" in path else ROW
    with pytest.raises(StepError):
        jsonpath.select(record, jsonpath.parse(path))


@pytest.mark.parametrize("path", ["features", "$..a", "$[?(@.x)]"])
def test_paths_outside_the_subset_are_rejected(path: str) -> None:
    with pytest.raises(StepError):
        jsonpath.parse(path)


def processing(
    block: dict[str, str], kind: str = "text/csv", accept: str = "text/csv"
) -> DataProcessing:
    return DataProcessing.from_request(
        block, content_type=kind, accept=accept, split_type="Line", assemble_with="Line",
        inclusive=True,
    )  # fmt: skip


def test_csv_join_then_output_filter() -> None:
    dp = processing({"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    payload, text = dp.prepare(b'id1,"x,y",2\r\n')
    assert payload == b'"x,y",2\n' and text == 'id1,"x,y",2'
    assert dp.finish([text, "id2,z,3"], b"0.9\n0.1\n") == [b"id1,0.9", b"id2,0.1"]


def test_csv_join_keeps_all_input_columns() -> None:
    dp = processing({"JoinSource": "Input"})
    assert dp.finish(["1,2"], b"0.5\n") == [b"1,2,0.5"]


def test_json_join_for_objects_and_other_values() -> None:
    dp = processing({"JoinSource": "Input"}, "application/json", "application/json")
    out = dp.finish(['{"id": 7}', "[1, 2]"], b"[0.2, 0.8]")
    assert out == [
        b'{"id": 7, "SageMakerOutput": 0.2}',
        b'{"SageMakerInput": [1, 2], "SageMakerOutput": 0.8}',
    ]


def test_response_count_mismatch_is_an_error() -> None:
    dp = processing({"JoinSource": "Input"})
    with pytest.raises(StepError, match="1 records for 2 inputs"):
        dp.finish(["a", "b"], b"0.5\n")


def test_csv_join_needs_line_split_and_assembly() -> None:
    with pytest.raises(StepError, match="SplitType=Line and AssembleWith=Line"):
        DataProcessing.from_request(
            {"JoinSource": "Input"}, content_type="text/csv", accept="text/csv",
            split_type="Line", assemble_with="None", inclusive=True,
        )  # fmt: skip


def test_defaults_keep_the_fast_path() -> None:
    assert not processing({"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}).active
