"""Expression evaluation and step ordering (reference §4)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.local.errors import DefinitionError, StepError
from pipelines.local.expressions import (
    Context,
    evaluate,
    parse_path,
    references,
    resolve_parameters,
)
from pipelines.local.graph import order_steps

DECLARED: list[dict[str, Any]] = [
    {"Name": "InputDataUrl", "Type": "String", "DefaultValue": "s3://b/in"},
    {"Name": "Count", "Type": "Integer", "DefaultValue": 1},
    {"Name": "Ratio", "Type": "Float", "DefaultValue": 0.5},
    {"Name": "Flag", "Type": "Boolean", "DefaultValue": False},
    {"Name": "Kind", "Type": "String", "DefaultValue": "a", "EnumValues": ["a", "b"]},
]


def ctx_with_steps() -> Context:
    ctx = Context(
        parameters=resolve_parameters(DECLARED, {"Count": "3", "Flag": "true"}),
        execution={"PipelineExecutionId": "abc123", "CurrentDateTime": lambda: "now"},
    )
    ctx.steps["Preprocess"] = {
        "ProcessingOutputConfig": {
            "Outputs": [
                {"OutputName": "ids", "S3Output": {"S3Uri": "s3://b/ids"}},
                {"OutputName": "transform-input", "S3Output": {"S3Uri": "s3://b/features"}},
            ]
        }
    }
    return ctx


def test_parameters_are_typed_by_their_declaration() -> None:
    values = resolve_parameters(DECLARED, {"Count": "3", "Ratio": "0.25", "Flag": "TRUE"})
    assert values == {
        "InputDataUrl": "s3://b/in",
        "Count": 3,
        "Ratio": 0.25,
        "Flag": True,
        "Kind": "a",
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"Nope": "1"}, "unknown pipeline parameters"),
        ({"Count": "x"}, "not a valid Integer"),
        ({"Flag": "yes"}, "not true or false"),
        ({"Kind": "c"}, "is not one of"),
    ],
)
def test_bad_parameters_are_rejected(given: dict[str, str], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        resolve_parameters(DECLARED, given)


def test_parameter_without_default_must_be_given() -> None:
    with pytest.raises(DefinitionError, match="RunDate has no default"):
        resolve_parameters([{"Name": "RunDate", "Type": "String"}], {})


def test_get_and_join_evaluate_nested_values() -> None:
    # GIVEN a Join mixing literals, a parameter, an execution variable and a step property
    expression = {
        "Std:Join": {
            "On": "/",
            "Values": [
                "s3:/",
                "bucket",
                {"Get": "Parameters.Count"},
                {"Get": "Parameters.Flag"},
                {"Get": "Execution.PipelineExecutionId"},
                {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['ids'].S3Output.S3Uri"},
            ],
        }
    }
    # WHEN it is evaluated inside a larger document
    result = evaluate({"A": [expression, {"Get": "Execution.CurrentDateTime"}]}, ctx_with_steps())
    # THEN values are stringified (booleans lower-case) and "s3:/" joins into s3://
    assert result == {"A": ["s3://bucket/3/true/abc123/s3://b/ids", "now"]}


def test_list_index_by_position_and_by_name_agree() -> None:
    ctx = ctx_with_steps()
    by_name = "Steps.Preprocess.ProcessingOutputConfig.Outputs['transform-input'].S3Output.S3Uri"
    by_index = "Steps.Preprocess.ProcessingOutputConfig.Outputs[1].S3Output.S3Uri"
    assert evaluate({"Get": by_name}, ctx) == evaluate({"Get": by_index}, ctx) == "s3://b/features"


@pytest.mark.parametrize(
    ("reference", "error"),
    [
        ("Steps.Preprocess.ProcessingOutputConfig.Outputs['nope'].S3Output.S3Uri", StepError),
        ("Steps.Preprocess.ProcessingOutputConfig.Outputs[5]", StepError),
        ("Steps.Later.Anything", StepError),
        ("Parameters.Missing", DefinitionError),
        ("Execution.Bogus", DefinitionError),
        ("Somewhere.Else", DefinitionError),
    ],
)
def test_bad_references_raise(reference: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        evaluate({"Get": reference}, ctx_with_steps())


def test_json_get_reads_a_property_file() -> None:
    ctx = ctx_with_steps()
    ctx.steps["Evaluate"] = {"PropertyFiles": {"metrics": {"auc": {"value": 0.9}, "l": [1, 2]}}}
    prop = {"Get": "Steps.Evaluate.PropertyFiles.metrics"}
    assert evaluate({"Std:JsonGet": {"PropertyFile": prop, "Path": "auc.value"}}, ctx) == 0.9
    assert evaluate({"Std:JsonGet": {"PropertyFile": prop, "Path": "l[1]"}}, ctx) == 2


def test_parse_path_accepts_quotes_and_negative_indexes() -> None:
    assert parse_path(".A['x-1'][0][\"y\"][-1].B") == ["A", "x-1", 0, "y", -1, "B"]
    with pytest.raises(DefinitionError):
        parse_path(".A[x]")


def test_references_and_order_follow_data_and_depends_on() -> None:
    # GIVEN steps listed out of order: Post depends on Score (DependsOn), Score reads Prep
    get_prep = {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri"}
    steps: list[dict[str, Any]] = [
        {"Name": "Post", "Type": "Processing", "Arguments": {}, "DependsOn": ["Score"]},
        {"Name": "Score", "Type": "Transform", "Arguments": {"X": [get_prep]}},
        {"Name": "Prep", "Type": "Processing", "Arguments": {}},
    ]
    assert set(references(steps[1]["Arguments"])) == {"Prep"}
    # WHEN ordered THEN dependencies come first
    assert [s["Name"] for s in order_steps(steps)] == ["Prep", "Score", "Post"]


def test_cycles_and_unknown_steps_are_definition_errors() -> None:
    cycle: list[dict[str, Any]] = [
        {"Name": "A", "DependsOn": ["B"]},
        {"Name": "B", "Arguments": {"x": {"Get": "Steps.A.Foo"}}},
    ]
    with pytest.raises(DefinitionError, match="cycle"):
        order_steps(cycle)
    with pytest.raises(DefinitionError, match="unknown steps"):
        order_steps([{"Name": "A", "DependsOn": ["Z"]}])
    with pytest.raises(DefinitionError, match="must match"):
        order_steps([{"Name": "bad name"}])
