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
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.mlops.workflow.steps import ProcessingStep, TransformStep

from pipelines.batch_inference import layout
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


def _flag(name: str, value: Any) -> Join:
    """``--name=<value>`` as one argument, so an empty value stays an argument."""
    return Join(on="", values=[f"--{name}=", value])


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
    }
    image = processing_image(config)
    code_dir = layout.CODE_DIR

    def processor(script: str, instance_count: Any) -> Processor:
        return Processor(
            role=config.sagemaker_execution_role_arn,
            image_uri=image,
            instance_count=instance_count,
            instance_type=p["ProcessingInstanceType"],
            entrypoint=["python3", f"{code_dir}/{script}"],
            volume_size_in_gb=layout.PROCESSING_VOLUME_GB,
            output_kms_key=config.kms_key_arn,
            sagemaker_session=session,
            base_job_name=script.removesuffix(".py"),
        )

    preprocess = ProcessingStep(
        name=layout.PREPROCESS,
        step_args=processor("preprocess.py", p["ProcessingInstanceCount"]).run(
            inputs=[
                _input("data", p["InputDataUrl"], layout.DATA_DIR, "ShardedByS3Key"),
                _input("code", code_uris["preprocess.py"], code_dir, "FullyReplicated"),
            ],
            outputs=[
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
            ),
        ),
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
            ],
            outputs=[
                _output(layout.PREDICTIONS_OUTPUT, p["OutputDataUrl"], layout.POST_OUTPUT_DIR)
            ],
            arguments=[
                *layout.postprocess_directory_arguments(),
                "--model-package-version",
                str(model_package_version),
                _flag("execution-id", ExecutionVariables.PIPELINE_EXECUTION_ID),
                _flag("run-date", p["RunDate"]),
                _flag("start-time", ExecutionVariables.START_DATETIME),
            ],
        ),
        retry_policies=retry_policies(),
    )
    return Pipeline(
        name=pipeline_name,
        parameters=list(p.values()),
        steps=[preprocess, transform, postprocess],
        sagemaker_session=session,
        pipeline_experiment_config=None,
    )
