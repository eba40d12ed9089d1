"""The rendered definition: parameters, steps, references, API shapes, determinism, no network."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from errors import ConfigError
from pipelines.definition import layout
from pipelines.definition.diagram import job_steps, mermaid_diagram, step_dependencies
from pipelines.definition.pipeline import render_definition
from promotion.config import REPO_ROOT, StageConfig
from tests.pipeline.conftest import (
    FEATURES,
    KMS_KEY,
    MODEL_NAME,
    MODEL_PACKAGE_VERSION,
    ConfigFactory,
    write_config,
)

EXECUTION_VARIABLES = {
    "StartDateTime",
    "CurrentDateTime",
    "PipelineName",
    "PipelineArn",
    "PipelineExecutionId",
    "PipelineExecutionArn",
}
DESCRIBE_SHAPES = {"Processing": "DescribeProcessingJob", "Transform": "DescribeTransformJob"}
CREATE_OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
}
_SEGMENT = re.compile(r"\.([A-Za-z0-9_]+)|\['([^']*)'\]|\[(\d+)\]")


def _sagemaker_model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


def _expressions(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value] if {"Get", "Std:Join", "Std:JsonGet"} & set(value) else []
        return found + [e for item in value.values() for e in _expressions(item)]
    if isinstance(value, list):
        return [e for item in value for e in _expressions(item)]
    return []


def _resolve_step_path(step: dict[str, Any], path: str) -> None:
    """Walk ``path`` over the step's Describe*Response shape; list keys must be output names."""
    shape: Any = _sagemaker_model().operation_model(DESCRIBE_SHAPES[step["Type"]]).output_shape
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        assert match, f"cannot parse {path!r} at {position}"
        member, key, index = match.groups()
        if member is not None:
            assert shape.type_name == "structure" and member in shape.members, (path, member)
            shape = shape.members[member]
        else:
            assert shape.type_name == "list", (path, key or index)
            if key is not None:
                outputs = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
                assert key in {output["OutputName"] for output in outputs}, (path, key)
            shape = shape.member
        position = match.end()
    assert shape.type_name == "string", f"{path} is not a string property"


def _placeholder(value: Any, shape: Any, parameters: dict[str, Any]) -> Any:
    """``value`` with every expression replaced by a value of the shape's type."""
    if isinstance(value, dict) and {"Get", "Std:Join", "Std:JsonGet"} & set(value):
        reference = value.get("Get", "")
        if reference.startswith("Parameters."):
            return parameters[reference.removeprefix("Parameters.")]
        return {"string": "placeholder", "integer": 1, "boolean": True}[shape.type_name]
    if shape.type_name == "structure" and isinstance(value, dict):
        return {
            key: _placeholder(item, shape.members[key], parameters)
            if key in shape.members
            else item
            for key, item in value.items()
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [_placeholder(item, shape.member, parameters) for item in value]
    return value


def test_parameters_are_the_interface_with_stage_defaults(
    definition: dict[str, Any], session_config: StageConfig
) -> None:
    # GIVEN the rendered definition  WHEN reading its parameters
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    # THEN they are exactly the documented names, typed, with the stage's defaults
    assert list(parameters) == list(layout.PARAMETERS)
    assert parameters["ModelName"]["DefaultValue"] == MODEL_NAME
    assert parameters["InputDataUrl"]["DefaultValue"] == session_config.input_data_url
    assert parameters["OutputDataUrl"]["DefaultValue"] == session_config.output_data_url
    assert parameters["ProcessingInstanceCount"] == {
        "Name": "ProcessingInstanceCount",
        "Type": "Integer",
        "DefaultValue": 1,
    }
    assert parameters["TransformInstanceCount"]["Type"] == "Integer"
    assert parameters["RunDate"] == {"Name": "RunDate", "Type": "String", "DefaultValue": ""}


def test_steps_structure_and_retries(definition: dict[str, Any]) -> None:
    # GIVEN the rendered definition
    steps = {step["Name"]: step for step in definition["Steps"]}
    # THEN three steps run Preprocess -> Transform -> Postprocess, each with both retry policies
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Preprocess", "Processing"),
        ("Transform", "Transform"),
        ("Postprocess", "Processing"),
    ]
    assert step_dependencies(definition) == {
        "Preprocess": [],
        "Transform": ["Preprocess"],
        "Postprocess": ["Preprocess", "Transform"],
    }
    # AND a scheduled run starts three SageMaker jobs (Postprocess publishes; no Publish job)
    assert job_steps(definition) == list(layout.JOB_STEPS)
    for step in steps.values():
        kinds = [set(policy["ExceptionType"]) for policy in step["RetryPolicies"]]
        assert {"Step.SERVICE_FAULT", "Step.THROTTLING"} in kinds
        assert {"SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"} in kinds
    assert definition["PipelineExperimentConfig"] is None


def test_transform_settings_come_from_the_config(definition: dict[str, Any]) -> None:
    # GIVEN the Transform step's arguments
    args = next(s for s in definition["Steps"] if s["Name"] == "Transform")["Arguments"]
    # THEN batching, formats and client settings follow the stage config
    assert args["ModelName"] == {"Get": "Parameters.ModelName"}
    assert args["BatchStrategy"] == "MultiRecord"
    assert (args["MaxPayloadInMB"], args["MaxConcurrentTransforms"]) == (6, 4)
    assert args["ModelClientConfig"] == {
        "InvocationsTimeoutInSeconds": 900,
        "InvocationsMaxRetries": 2,
    }
    assert args["TransformInput"]["SplitType"] == "Line"
    assert args["TransformInput"]["ContentType"] == "text/csv"
    assert args["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['shards'].S3Output.S3Uri"
    }
    assert (args["TransformOutput"]["Accept"], args["TransformOutput"]["AssembleWith"]) == (
        "text/csv",
        "Line",
    )
    join = args["TransformOutput"]["S3OutputPath"]["Std:Join"]
    assert {"Get": "Execution.PipelineExecutionId"} in join["Values"]
    assert args["TransformResources"]["InstanceCount"] == {
        "Get": "Parameters.TransformInstanceCount"
    }


def test_processing_steps_run_the_hashed_scripts(
    definition: dict[str, Any], session_config: StageConfig
) -> None:
    # GIVEN the processing steps
    from pipelines.definition.step_code import script_uris

    uris = script_uris(session_config)
    for step in definition["Steps"]:
        if step["Type"] != "Processing":
            continue
        script = f"{step['Name'].lower()}.py"
        app = step["Arguments"]["AppSpecification"]
        inputs = {i["InputName"]: i["S3Input"] for i in step["Arguments"]["ProcessingInputs"]}
        # THEN the entrypoint runs the script that the `code` input downloads from its hashed key
        assert app["ContainerEntrypoint"] == ["python3", f"{layout.CODE_DIR}/{script}"]
        assert inputs["code"]["S3Uri"] == uris[script]
        assert inputs["code"]["LocalPath"] == layout.CODE_DIR
        assert re.fullmatch(r".*/sagemaker-scikit-learn:1\.4-2-cpu-py3", app["ImageUri"])
        assert app["ImageUri"].startswith("141502667606.dkr.ecr.eu-west-1.amazonaws.com/")
        # AND every literal argument fits the API's 256-character limit
        assert all(len(a) <= 256 for a in app["ContainerArguments"] if isinstance(a, str))
    pre = definition["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"]
    chunks = [pre[i + 1] for i, argument in enumerate(pre) if argument == "--feature-columns"]
    assert ",".join(chunks).split(",") == list(FEATURES)
    assert pre[pre.index("--id-column") + 1] == "record_id"
    post = definition["Steps"][2]["Arguments"]
    # AND Postprocess uploads and publishes itself: no ProcessingOutput, the output URL and
    # the run's date file (from its ids input) as arguments, partitions.py as an input
    assert "ProcessingOutputConfig" not in post
    arguments = post["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--model-package-version") + 1] == "7"
    assert arguments[arguments.index("--output-url") + 1] == {"Get": "Parameters.OutputDataUrl"}
    assert arguments[arguments.index("--run-file") + 1] == f"{layout.POST_IDS_DIR}/run.json"
    inputs = {i["InputName"]: i["S3Input"] for i in post["ProcessingInputs"]}
    assert inputs["partitions"]["S3Uri"] == uris["partitions.py"]
    assert inputs["ids"]["LocalPath"] == layout.POST_IDS_DIR


def test_every_get_resolves(definition: dict[str, Any]) -> None:
    # GIVEN every expression of every step
    parameters = {p["Name"] for p in definition["Parameters"]}
    seen: list[str] = []
    for step in definition["Steps"]:
        for expression in _expressions(step["Arguments"]):
            reference = expression.get("Get")
            if reference is None:
                continue
            kind, _, rest = reference.partition(".")
            # THEN each names a parameter, an execution variable, or a property of an earlier step
            if kind == "Parameters":
                assert rest in parameters, reference
            elif kind == "Execution":
                assert rest in EXECUTION_VARIABLES, reference
            else:
                assert kind == "Steps", reference
                name, _, path = rest.partition(".")
                assert name in seen, f"{step['Name']} reads {name} before it runs"
                upstream = next(s for s in definition["Steps"] if s["Name"] == name)
                if path.startswith("PropertyFiles."):
                    files = {f["PropertyFileName"] for f in upstream.get("PropertyFiles", [])}
                    assert path.removeprefix("PropertyFiles.") in files, reference
                    continue
                _resolve_step_path(upstream, "." + path)
        seen.append(step["Name"])


def test_arguments_validate_against_the_api_shapes(definition: dict[str, Any]) -> None:
    # GIVEN placeholders of the right type for every expression, and a job name
    model = _sagemaker_model()
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    for step in definition["Steps"]:
        operation, job_name_key = CREATE_OPERATIONS[step["Type"]]
        shape = model.operation_model(operation).input_shape
        request = _placeholder(step["Arguments"], shape, parameters)
        request[job_name_key] = "pipelines-abc123-job"
        # WHEN botocore's own validator checks the request  THEN it reports nothing
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), f"{step['Name']}: {report.generate_report()}"


def test_outputs_are_encrypted_with_the_stage_key(definition: dict[str, Any]) -> None:
    # GIVEN a stage with a KMS key  THEN processing and transform outputs use it, and so do
    # the objects Postprocess uploads itself (its --kms-key-arn)
    pre, transform, post = (step["Arguments"] for step in definition["Steps"])
    assert pre["ProcessingOutputConfig"]["KmsKeyId"] == KMS_KEY
    assert transform["TransformOutput"]["KmsKeyId"] == KMS_KEY
    arguments = post["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--kms-key-arn") + 1] == KMS_KEY


def test_the_stages_prediction_columns_reach_postprocess(make_config: ConfigFactory) -> None:
    # GIVEN a stage that names the model's two output columns
    config = make_config(prediction_columns=["p_stay", "p_churn"])
    # WHEN rendering  THEN Postprocess is told the names; without the key it is told nothing
    rendered = render_definition(config=config, pipeline_name="p", model_name=MODEL_NAME,
                                 model_package_version=1, feature_columns=FEATURES)  # fmt: skip
    post = json.loads(rendered)["Steps"][2]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert post[post.index("--prediction-columns") + 1] == "p_stay,p_churn"
    plain = make_config()
    assert plain.prediction_columns is None
    assert layout.prediction_arguments(plain.prediction_columns) == []


def test_long_feature_lists_are_split_into_arguments() -> None:
    # GIVEN 60 long feature names and no id column
    columns = [f"a_rather_long_feature_column_name_{index:03d}" for index in range(60)]
    # WHEN building the Preprocess arguments
    arguments = layout.preprocess_arguments(
        feature_columns=columns, id_column=None, max_shard_bytes=layout.max_shard_bytes(10)
    )
    chunks = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--feature-columns"]
    # THEN the columns span several arguments of at most 256 characters, in order
    assert len(chunks) > 1 and all(len(chunk) <= 256 for chunk in chunks)
    assert ",".join(chunks).split(",") == columns
    assert "--id-column" not in arguments
    assert arguments[arguments.index("--max-shard-bytes") + 1] == "9000000"


@pytest.mark.parametrize(
    ("overrides", "columns", "message"),
    [
        ({}, [], "no feature columns"),
        ({}, ["a", "a"], "unique"),
        ({"max_concurrent_transforms": 20, "max_payload_mb": 6}, ["a"], "at most 100"),
    ],
)
def test_bad_settings_raise_config_error(
    make_config: ConfigFactory, overrides: dict[str, Any], columns: list[str], message: str
) -> None:
    # GIVEN unusable settings  WHEN building  THEN one ConfigError names the problem
    with pytest.raises(ConfigError, match=message):
        render_definition(
            config=make_config(**overrides),
            pipeline_name="p",
            model_name="m",
            model_package_version=1,
            feature_columns=columns,
        )


def test_mermaid_diagram(definition: dict[str, Any]) -> None:
    # GIVEN the definition  WHEN drawing it  THEN nodes and edges follow the dependencies
    diagram = mermaid_diagram(definition)
    assert diagram.splitlines()[0] == "flowchart LR"
    assert '    Transform["Transform<br/>Transform"]' in diagram
    assert "    Preprocess --> Transform" in diagram
    assert "    Transform --> Postprocess" in diagram


def test_cli_renders_identical_bytes_without_network(
    rendered: str, session_config: StageConfig, tmp_path: Path
) -> None:
    # GIVEN a fresh interpreter whose sockets refuse to connect, and no region in the environment
    guard = (
        "import socket,sys\n"
        "def refuse(*a, **k): raise SystemExit('network call attempted: %r' % (a,))\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
        "from pipelines.get_pipeline_definition import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    output = tmp_path / "definition.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [sys.executable, "-c", guard, "--stage", "pre-prod"]
    command += ["--config", str(session_config.path), "--model-name", MODEL_NAME]
    command += ["--model-package-version", str(MODEL_PACKAGE_VERSION)]
    command += ["--feature-columns", ",".join(FEATURES), "--output", str(output)]
    # WHEN rendering there through the CLI
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    # THEN it succeeds and the bytes equal this process's rendering (rendered twice: same bytes)
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8") == rendered
    assert rendered.endswith("}\n") and json.loads(rendered)["Version"] == "2020-12-01"


def test_cli_needs_feature_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a config without feature columns and no --feature-columns
    from pipelines.get_pipeline_definition import main

    path = write_config(tmp_path)
    # WHEN rendering  THEN exit 2 with one line naming the fix
    argv = ["--stage", "pre-prod", "--config", str(path), "--model-name", "m"]
    code = main([*argv, "--model-package-version", "1"])
    assert code == 2
    assert "no feature columns" in capsys.readouterr().err


def test_rendering_leaves_the_callers_logging_alone(tmp_path: Path) -> None:
    # GIVEN a fresh process (the SDK configures the root logger when first imported)
    script = (
        "import logging\n"
        "from pathlib import Path\n"
        "from promotion.config import load_stage_config\n"
        "from pipelines.definition.pipeline import render_definition\n"
        "config = load_stage_config(Path('pre-prod-config.tfvars.json'))\n"
        "render_definition(config=config, pipeline_name='p', model_name='m',\n"
        "                  model_package_version=1, feature_columns=['a', 'b'])\n"
        "root = logging.getLogger()\n"
        "print(root.level, len(root.handlers))\n"
    )
    # WHEN it renders a definition (with an endpoint set, as on the local AWS)
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        env=env,
    )  # fmt: skip
    # THEN the root logger keeps its default level and gets no handler, and nothing is printed
    assert done.stdout.split() == [str(logging.WARNING), "0"]
    assert "INFO" not in done.stderr, done.stderr


def test_the_feature_columns_read_back_from_a_rendered_definition(
    make_config: ConfigFactory,
) -> None:
    # GIVEN a definition rendered with 60 long feature names (several --feature-columns chunks)
    columns = [f"a_rather_long_feature_column_name_{index:03d}" for index in range(60)][::-1]
    rendered = render_definition(config=make_config(), pipeline_name="p", model_name=MODEL_NAME,
                                 model_package_version=1, feature_columns=columns)  # fmt: skip
    # WHEN reading them back  THEN they come back whole and in order; no Preprocess, none
    assert layout.definition_feature_columns(json.loads(rendered)) == tuple(columns)
    assert layout.definition_feature_columns({"Steps": []}) == ()
