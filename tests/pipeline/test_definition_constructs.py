"""Only confirmed constructs in the rendered definitions (docs/pipeline.md, "Constructs").

The published pipeline-definition JSON schema allows, in a Processing step's string positions
(ContainerArguments, Environment, ImageUri, ...), only a string or a ``Get``
(``StringArgumentValue``), and inside ``Std:Join`` only literal strings and ``Get``
(``JoinFunction``); a ``Get`` takes a string (``GetFunction``). A Join is accepted only in an S3
URI (a run prefix: aws/sagemaker-python-sdk#3278 shows the service taking it there). ``Std:JsonGet``
is outside the schema; AWS documents it for one use only, as an operand of a Condition step
(developer guide, "Condition step"). Every expression of every rendered stage is checked
against exactly these rules, with no exception: a Join over a JsonGet, a JsonGet anywhere but a
condition, or any other function fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.definition.quality_inputs import Baseline
from promotion.config import load_stage_config
from tests.pipeline.conftest import FEATURES, MODEL_NAME, write_config

PRIMITIVES = (str, int, float, bool)
STRING_ONLY_POSITIONS = (".AppSpecification.", ".Environment.")


def _violations(value: Any, where: str, condition_operand: bool = False) -> Iterator[str]:
    """Every expression below ``value`` that the rules above do not allow, by JSON path."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _violations(item, f"{where}[{index}]")
        return
    if not isinstance(value, dict):
        return
    functions = [key for key in value if key == "Get" or key.startswith("Std:")]
    if not functions:
        for key, item in value.items():
            operand = where.endswith("]") and key in ("LeftValue", "RightValue")
            yield from _violations(item, f"{where}.{key}", operand and ".Conditions[" in where)
        return
    if len(value) != 1:
        yield f"{where}: a function object with other keys {sorted(value)}"
        return
    ((name, argument),) = value.items()
    if name == "Std:Join" and any(part in where for part in STRING_ONLY_POSITIONS):
        yield f"{where}: Std:Join where the schema allows only a string or a Get"
        return
    if name == "Get":
        if not isinstance(argument, str):
            yield f"{where}: Get of {argument!r}"
    elif name == "Std:Join":
        if not isinstance(argument, dict) or not isinstance(argument.get("On", ""), str):
            yield f"{where}: Std:Join without a string On"
            return
        for index, item in enumerate(argument.get("Values") or []):
            simple = isinstance(item, PRIMITIVES) or (
                isinstance(item, dict) and set(item) == {"Get"} and isinstance(item["Get"], str)
            )
            if not simple:
                yield f"{where}.Values[{index}]: Std:Join over {json.dumps(item)[:80]}"
    elif name == "Std:JsonGet":
        if not condition_operand:
            yield f"{where}: Std:JsonGet outside a Condition step's operand"
        reference = (argument.get("PropertyFile") or {}).get("Get", "")
        if ".PropertyFiles." not in reference or not isinstance(argument.get("Path"), str):
            yield f"{where}: Std:JsonGet must read a step's property file by a string path"
    else:
        yield f"{where}: {name} is not a confirmed construct"


def violations(definition: dict[str, Any]) -> list[str]:
    """The unconfirmed expressions of a definition (an empty list when it is clean)."""
    return list(_violations(definition, "$"))


def _render(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    from pipelines.definition.pipeline import render_definition

    config = load_stage_config(write_config(tmp_path, **overrides))
    baseline = Baseline("s3://b/baseline/statistics.json", "s3://b/baseline/constraints.json")
    rendered = render_definition(
        config=config,
        pipeline_name="constructs",
        model_name=MODEL_NAME,
        model_package_version=2,
        feature_columns=FEATURES,
        baseline=baseline,
    )
    return dict(json.loads(rendered))


def test_the_default_stage_uses_only_confirmed_constructs(definition: dict[str, Any]) -> None:
    # GIVEN the snapshot stage with a KMS key  THEN no expression breaks the rules
    assert violations(definition) == []


def test_a_daily_stage_with_quality_and_the_skip_gate_uses_only_confirmed_constructs(
    tmp_path: Path,
) -> None:
    # GIVEN a daily stage that skips missing dates and fails on data quality, with a baseline
    definition = _render(
        tmp_path,
        input_layout="dt=YYYY-MM-DD",
        input_lag_days=2,
        missing_input="skip",
        data_quality="fail",
    )
    # THEN no expression breaks the rules; the one JsonGet is the gate's condition operand
    assert violations(definition) == []
    text = json.dumps(definition)
    assert text.count("Std:JsonGet") == 1
    assert '"LeftValue": {"Std:JsonGet"' in text


@pytest.mark.parametrize(
    ("fragment", "found"),
    [
        (  # what Postprocess and Publish were given before: the run date through a JsonGet
            {
                "Std:Join": {
                    "On": "",
                    "Values": [
                        "--run-date=",
                        {
                            "Std:JsonGet": {
                                "PropertyFile": {"Get": "Steps.Preprocess.PropertyFiles.Run"},
                                "Path": "date",
                            }
                        },
                    ],
                }
            },
            "Std:Join over",
        ),
        (
            {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.P.PropertyFiles.R"}, "Path": "d"}},
            "outside a Condition step",
        ),
        ({"Std:Join": {"On": "/", "Values": [{"Std:Join": {"Values": []}}]}}, "Std:Join over"),
        (  # what every --name=<value> argument was: a Join where only a string or a Get is
            {"Std:Join": {"On": "", "Values": ["--output-url=", {"Get": "Parameters.X"}]}},
            "only a string or a Get",
        ),
        ({"Std:Split": {"On": "/", "Value": "a/b"}}, "not a confirmed construct"),
        ({"Get": {"Parameters": "X"}}, "Get of"),
    ],
)
def test_the_check_refuses_unconfirmed_constructs(fragment: dict[str, Any], found: str) -> None:
    # GIVEN a Processing step whose arguments, or else whose output URI, hold an unconfirmed
    # expression (a Join's contents are checked where a Join may stand)
    join = "Std:Join" in fragment and found != "only a string or a Get"
    s3 = {"ProcessingOutputConfig": {"Outputs": [{"S3Output": {"S3Uri": fragment}}]}}
    arguments = s3 if join else {"AppSpecification": {"ContainerArguments": ["--a", fragment]}}
    step = {"Name": "P", "Type": "Processing", "Arguments": arguments}
    # WHEN checking  THEN it is reported with its path
    (reported,) = violations({"Steps": [step]})
    assert found in reported and reported.startswith("$.Steps[0].Arguments.")
