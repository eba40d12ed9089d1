"""Build the SDK v3 `Pipeline` objects. Imports the SageMaker SDK: import this module only
through `pipeline.get_pipeline`, which sets the region the SDK needs at import time first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from sagemaker.core import image_uris
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.transformer import Transformer
from sagemaker.core.workflow.conditions import ConditionEquals
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.mlops.workflow.steps import ProcessingStep, TransformStep

from pipelines.definition import layout
from pipelines.definition.quality_inputs import Baseline, quality_arguments
from promotion.config import StageConfig

TELEMETRY_OPT_OUT = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


class _TransformStep(TransformStep):
    """A TransformStep whose instance count is a pipeline parameter.

    sagemaker-core 2.27 types ``TransformResources.instance_count`` as a plain int (pydantic
    rejects a ParameterInteger), so the step is built with a placeholder count and the
    parameter's expression is put into the arguments here.
    """

    def __init__(self, *, instance_count: ParameterInteger, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._instance_count = instance_count

    @property
    def arguments(self) -> dict[str, Any]:
        """The CreateTransformJob arguments, with the instance count parameter."""
        request: dict[str, Any] = super().arguments
        request["TransformResources"]["InstanceCount"] = self._instance_count.expr
        return request


def retry_policies() -> list[Any]:
    """Service faults and throttling (any step), capacity and resource limits (SageMaker jobs)."""
    return [
        StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.SERVICE_FAULT, StepExceptionTypeEnum.THROTTLING],
            **layout.STEP_RETRY,
        ),
        SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
            ],
            **layout.JOB_RETRY,
        ),
    ]


def _input(name: str, uri: Any, local_path: str, distribution: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=uri,
            local_path=local_path,
            s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type=distribution,
        ),
    )


def _output(name: str, uri: Any, local_path: str) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(s3_uri=uri, local_path=local_path, s3_upload_mode="EndOfJob"),
    )


def _run_prefix(config: StageConfig, pipeline_name: str, *parts: str) -> Join:
    """``s3://<artifacts>/pipeline-runs/<pipeline>/<execution id>/<parts>/`` (trailing slash)."""
    values: list[Any] = ["s3:/", config.artifacts_bucket, layout.RUNS_PREFIX, pipeline_name]
    return Join(on="/", values=[*values, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts, ""])


def _flag(name: str, value: Any) -> list[Any]:
    """``--name`` and its value as two arguments: the value a bare ``Get`` where it is a pipeline
    variable, the one expression the published schema allows in ContainerArguments (an empty
    value stays an argument: ContainerArgument may be empty, botocore's model says min 0).
    Execution variables, StartDateTime included, are strings at run time (sagemaker-core's
    ``ExecutionVariable.to_string``)."""
    return [f"--{name}", value]


def _quality_parts(
    config: StageConfig, pipeline_name: str, code_uris: dict[str, str], baseline: Baseline | None
) -> tuple[list[ProcessingInput], list[ProcessingOutput], list[str]]:
    """Inputs, outputs and arguments of the data-quality check in Preprocess (none when off)."""
    if config.data_quality == "off" or baseline is None:
        return [], [], []
    inputs = [
        _input("quality-code", code_uris["quality.py"], layout.QUALITY_CODE_DIR, "FullyReplicated")
    ]
    for name, uri in (
        ("statistics", baseline.statistics_uri),
        ("constraints", baseline.constraints_uri),
    ):
        if uri:
            local = f"{layout.BASELINE_DIR}/{name}"
            inputs.append(_input(f"baseline-{name}", uri, local, "FullyReplicated"))
    prefix = _run_prefix(config, pipeline_name, layout.PREPROCESS, layout.QUALITY_OUTPUT)
    outputs = [_output(layout.QUALITY_OUTPUT, prefix, layout.QUALITY_DIR)]
    arguments = quality_arguments(
        policy=config.data_quality,
        drift_threshold=config.drift_threshold,
        pipeline_name=pipeline_name,
        region=config.region,
    )
    return inputs, outputs, arguments


def _run_arguments(config: StageConfig, p: dict[str, Any]) -> list[Any]:
    """Preprocess arguments that decide the run's date and input partition (partitions.py)."""
    return [
        *("--partitions-lib", f"{layout.PARTITIONS_DIR}/{layout.PARTITIONS_SCRIPT}"),
        *(layout.INPUT_LAYOUT_FLAG, config.input_layout),
        *(layout.LAG_DAYS_FLAG, str(config.input_lag_days)),
        *(layout.TIMEZONE_FLAG, config.schedule_timezone),
        *("--missing-input", config.missing_input),
        *_flag("input-url", p["InputDataUrl"]),
        *_flag("output-url", p["OutputDataUrl"]),
        *_flag("run-date", p["RunDate"]),
        *_flag("scheduled-time", p["ScheduledTime"]),
        *_flag("start-time", ExecutionVariables.START_DATETIME),
        *_flag("execution-id", ExecutionVariables.PIPELINE_EXECUTION_ID),
        *_flag("pipeline-name", ExecutionVariables.PIPELINE_NAME),
        *_kms_arguments(config),
    ]


def _kms_arguments(config: StageConfig) -> list[str]:
    """The region of partitions.py's own clients, and ``--kms-key-arn`` for the objects it
    writes itself (skip marker, manifest)."""
    kms = ["--kms-key-arn", config.kms_key_arn] if config.kms_key_arn else []
    return ["--region", config.region, *kms]


def _partitions_input(code_uris: dict[str, str]) -> ProcessingInput:
    """partitions.py (dates, partitions, publishing), loaded by path by both step scripts."""
    uri = code_uris[layout.PARTITIONS_SCRIPT]
    return _input("partitions", uri, layout.PARTITIONS_DIR, "FullyReplicated")


def _preprocess_inputs(
    config: StageConfig, p: dict[str, Any], code_uris: dict[str, str]
) -> list[ProcessingInput]:
    """The code inputs, and the data for a snapshot (a daily layout fetches its partition)."""
    inputs = [
        _input("code", code_uris["preprocess.py"], layout.CODE_DIR, "FullyReplicated"),
        _partitions_input(code_uris),
    ]
    if config.input_layout == "snapshot":
        inputs.insert(0, _input("data", p["InputDataUrl"], layout.DATA_DIR, "ShardedByS3Key"))
    return inputs


def _skip_gate(run_file: PropertyFile, steps: list[Any]) -> ConditionStep:
    """Run ``steps`` only when Preprocess found input (``status`` is ``scored``)."""
    status = JsonGet(step_name=layout.PREPROCESS, property_file=run_file, json_path="status")
    return ConditionStep(
        name=layout.HAS_INPUT,
        conditions=[ConditionEquals(left=status, right="scored")],
        if_steps=steps,
        else_steps=[],
    )


def processing_image(config: StageConfig) -> str:
    """The scikit-learn framework image for the stage's region (bundled JSON, no network).

    The image URI map of the stage applies, so a stage can use a mirrored copy.
    """
    image = image_uris.retrieve(
        framework="sklearn",
        region=config.region,
        version=layout.SKLEARN_VERSION,
        instance_type=config.processing_instance_type,
        image_scope="training",
    )
    return str(config.image_uri_map.get(image, image))


def build_pipeline(
    *,
    config: StageConfig,
    pipeline_name: str,
    model_name: str,
    model_package_version: int,
    feature_columns: Sequence[str],
    code_uris: dict[str, str],
    boto_session: boto3.Session,
    baseline: Baseline | None = None,
) -> Pipeline:
    """The pipeline object; see `pipeline.get_pipeline` for the contract."""
    session = PipelineSession(
        boto_session=boto_session,
        default_bucket=config.artifacts_bucket,
        sagemaker_config=TELEMETRY_OPT_OUT,
    )
    p = {
        "ModelName": ParameterString("ModelName", default_value=model_name),
        "InputDataUrl": ParameterString("InputDataUrl", default_value=config.input_data_url),
        "OutputDataUrl": ParameterString("OutputDataUrl", default_value=config.output_data_url),
        "ProcessingInstanceType": ParameterString(
            "ProcessingInstanceType", default_value=config.processing_instance_type
        ),
        "ProcessingInstanceCount": ParameterInteger(
            "ProcessingInstanceCount", default_value=config.processing_instance_count
        ),
        "TransformInstanceType": ParameterString(
            "TransformInstanceType", default_value=config.transform_instance_type
        ),
        "TransformInstanceCount": ParameterInteger(
            "TransformInstanceCount", default_value=config.transform_instance_count
        ),
        "RunDate": ParameterString("RunDate", default_value=""),
        "ScheduledTime": ParameterString("ScheduledTime", default_value=""),
    }
    run_file = PropertyFile(
        name=layout.RUN_PROPERTY_FILE, output_name=layout.IDS_OUTPUT, path=layout.RUN_FILE
    )
    image = processing_image(config)
    code_dir = layout.CODE_DIR

    def processor(script: str, instance_count: Any) -> Processor:
        return Processor(
            role=config.sagemaker_execution_role_arn,
            image_uri=image,
            instance_count=instance_count,
            instance_type=p["ProcessingInstanceType"],
            entrypoint=["python3", f"{code_dir}/{script}"],
            volume_size_in_gb=config.processing_volume_gb,
            output_kms_key=config.kms_key_arn,
            sagemaker_session=session,
            base_job_name=script.removesuffix(".py"),
        )

    quality_inputs, quality_outputs, quality_args = _quality_parts(
        config, pipeline_name, code_uris, baseline
    )
    preprocess = ProcessingStep(
        name=layout.PREPROCESS,
        step_args=processor("preprocess.py", p["ProcessingInstanceCount"]).run(
            inputs=[*_preprocess_inputs(config, p, code_uris), *quality_inputs],
            outputs=[
                *quality_outputs,
                _output(
                    layout.SHARDS_OUTPUT,
                    _run_prefix(config, pipeline_name, layout.PREPROCESS, layout.SHARDS_OUTPUT),
                    layout.SHARDS_DIR,
                ),
                _output(
                    layout.IDS_OUTPUT,
                    _run_prefix(config, pipeline_name, layout.PREPROCESS, layout.IDS_OUTPUT),
                    layout.IDS_DIR,
                ),
            ],
            arguments=layout.preprocess_arguments(
                feature_columns=feature_columns,
                id_column=config.id_column,
                id_policy=config.id_policy,
                max_shard_bytes=layout.max_shard_bytes(config.max_payload_mb),
            )
            + quality_args
            + _run_arguments(config, p),
        ),
        # Read only by the skip gate's condition (a documented JsonGet use, docs/pipeline.md).
        property_files=[run_file] if config.missing_input == "skip" else [],
        retry_policies=retry_policies(),
    )
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    transformer = Transformer(
        model_name=p["ModelName"],
        instance_count=1,  # replaced by the TransformInstanceCount parameter, see _TransformStep
        instance_type=p["TransformInstanceType"],
        strategy="MultiRecord",
        assemble_with="Line",
        output_path=_run_prefix(config, pipeline_name, layout.TRANSFORM),
        output_kms_key=config.kms_key_arn,
        accept="text/csv",
        max_concurrent_transforms=config.max_concurrent_transforms,
        max_payload=config.max_payload_mb,
        sagemaker_session=session,
        base_transform_job_name="transform",
    )
    transform = _TransformStep(
        instance_count=p["TransformInstanceCount"],
        name=layout.TRANSFORM,
        step_args=transformer.transform(
            data=outputs[layout.SHARDS_OUTPUT].S3Output.S3Uri,
            data_type="S3Prefix",
            content_type="text/csv",
            split_type="Line",
            model_client_config={
                "InvocationsTimeoutInSeconds": config.invocations_timeout_seconds,
                "InvocationsMaxRetries": config.invocations_max_retries,
            },
        ),
        retry_policies=retry_policies(),
    )
    postprocess = ProcessingStep(
        name=layout.POSTPROCESS,
        step_args=processor("postprocess.py", 1).run(
            inputs=[
                _input(
                    layout.IDS_OUTPUT,
                    outputs[layout.IDS_OUTPUT].S3Output.S3Uri,
                    layout.POST_IDS_DIR,
                    "FullyReplicated",
                ),
                _input(
                    layout.PREDICTIONS_OUTPUT,
                    transform.properties.TransformOutput.S3OutputPath,
                    layout.POST_PREDICTIONS_DIR,
                    "FullyReplicated",
                ),
                _input("code", code_uris["postprocess.py"], code_dir, "FullyReplicated"),
                _partitions_input(code_uris),
            ],
            arguments=[
                *layout.postprocess_directory_arguments(),
                "--model-package-version",
                str(model_package_version),
                *_flag("execution-id", ExecutionVariables.PIPELINE_EXECUTION_ID),
                *_flag("output-url", p["OutputDataUrl"]),
                *_kms_arguments(config),
                *layout.prediction_arguments(config.prediction_columns),
            ],
        ),
        retry_policies=retry_policies(),
    )
    scoring = [transform, postprocess]
    gated = [_skip_gate(run_file, scoring)] if config.missing_input == "skip" else scoring
    return Pipeline(
        name=pipeline_name,
        parameters=list(p.values()),
        steps=[preprocess, *gated],
        sagemaker_session=session,
        pipeline_experiment_config=None,
    )
