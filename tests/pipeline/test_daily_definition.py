"""The rendered definition of a daily stage: partition fetching, the skip gate, publishing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.validate import ParamValidator

from errors import ConfigError
from pipelines.definition import layout
from pipelines.definition.diagram import all_steps, job_steps, step_dependencies
from promotion.config import StageConfig, load_stage_config
from tests.pipeline.conftest import FEATURES, MODEL_NAME, write_config
from tests.pipeline.test_pipeline_definition import (
    CREATE_OPERATIONS,
    _placeholder,
    _sagemaker_model,
)


def _render(config: StageConfig) -> str:
    from pipelines.definition.pipeline import render_definition

    return render_definition(
        config=config,
        pipeline_name="daily",
        model_name=MODEL_NAME,
        model_package_version=3,
        feature_columns=FEATURES,
    )


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A year=/month=/day= stage that skips missing dates, lag 2 days, 200 GB volumes."""
    path = write_config(
        tmp_path_factory.mktemp("daily"),
        input_layout="year=YYYY/month=MM/day=DD",
        input_lag_days=2,
        missing_input="skip",
        processing_volume_gb=200,
        schedule_timezone="Asia/Tokyo",
    )
    text = _render(load_stage_config(path))
    return text, json.loads(text)


def test_daily_stage_gates_scoring_on_input_and_publishes_last(
    daily: tuple[str, dict[str, Any]],
) -> None:
    _, definition = daily
    # THEN Preprocess runs first; Transform and Postprocess (which publishes) only when it found
    # input: three SageMaker jobs at most, the gate is no job
    (preprocess, gate) = definition["Steps"]
    assert (preprocess["Name"], gate["Name"], gate["Type"]) == (
        "Preprocess",
        "HasInput",
        "Condition",
    )
    assert [s["Name"] for s in gate["Arguments"]["IfSteps"]] == ["Transform", "Postprocess"]
    assert job_steps(definition) == ["Preprocess", "Transform", "Postprocess"]
    assert gate["Arguments"]["ElseSteps"] == []
    (condition,) = gate["Arguments"]["Conditions"]
    assert condition["RightValue"] == "scored"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "status"
    assert step_dependencies(definition)["Postprocess"] == ["HasInput", "Preprocess", "Transform"]
    # AND Preprocess fetches its partition itself: no data input, the library next to it
    inputs = {i["InputName"]: i["S3Input"] for i in preprocess["Arguments"]["ProcessingInputs"]}
    assert sorted(inputs) == ["code", "partitions"]
    assert inputs["partitions"]["LocalPath"] == layout.PARTITIONS_DIR
    arguments = preprocess["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--input-layout") + 1] == "year=YYYY/month=MM/day=DD"
    assert arguments[arguments.index("--lag-days") + 1] == "2"
    # AND the schedule's zone, on whose clock a tick (given in UTC) has its date
    assert arguments[arguments.index(layout.TIMEZONE_FLAG) + 1] == "Asia/Tokyo"
    assert arguments[arguments.index("--missing-input") + 1] == "skip"
    assert preprocess["PropertyFiles"] == [
        {"FilePath": "run.json", "OutputName": "ids", "PropertyFileName": "Run"}
    ]
    # AND every Processing step gets the stage's volume size
    for step, _ in all_steps(definition["Steps"]):
        if step["Type"] == "Processing":
            resources = step["Arguments"]["ProcessingResources"]["ClusterConfig"]
            assert resources["VolumeSizeInGB"] == 200


def test_nested_steps_are_valid_api_requests(daily: tuple[str, dict[str, Any]]) -> None:
    _, definition = daily
    model = _sagemaker_model()
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    for step, _ in all_steps(definition["Steps"]):
        if step["Type"] == "Condition":
            continue
        operation, job_name_key = CREATE_OPERATIONS[step["Type"]]
        shape = model.operation_model(operation).input_shape
        request = _placeholder(step["Arguments"], shape, parameters)
        request[job_name_key] = "pipelines-abc123-job"
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), f"{step['Name']}: {report.generate_report()}"


def test_snapshot_stage_downloads_the_prefix_sharded(definition: dict[str, Any]) -> None:
    # GIVEN the default (snapshot) stage  THEN the data input is the whole prefix, sharded,
    # no gate is rendered, and the schedule's ScheduledTime is a parameter
    preprocess = definition["Steps"][0]["Arguments"]
    data = next(i for i in preprocess["ProcessingInputs"] if i["InputName"] == "data")["S3Input"]
    assert data["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    assert data["S3DataDistributionType"] == "ShardedByS3Key"
    assert "HasInput" not in [s["Name"] for s in definition["Steps"]]
    assert {"Name": "ScheduledTime", "Type": "String", "DefaultValue": ""} in definition[
        "Parameters"
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"missing_input": "skip"}, "a skip needs a daily layout"),
        ({"input_layout": "daily"}, "key 'input_layout' must be 'snapshot', 'YYYY-MM-DD'"),
        ({"input_lag_days": 31}, "key 'input_lag_days' must be a whole number from 0 to 30"),
        ({"processing_volume_gb": 0}, "key 'processing_volume_gb' must be a whole number"),
    ],
)
def test_bad_schedule_keys_are_refused(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stage_config(write_config(tmp_path, **overrides))
