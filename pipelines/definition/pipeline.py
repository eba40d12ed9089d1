"""One stage's batch-inference pipeline: name, definition, rendering, step scripts, diagram.

Importing this module does not import the SageMaker SDK (2 s, and it needs a region at import
time); `get_pipeline` and `render_definition` import it on first use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import boto3

from errors import ConfigError
from pipelines.definition import layout
from pipelines.definition.diagram import mermaid_diagram
from pipelines.definition.quality_inputs import Baseline, quality_arguments
from pipelines.definition.step_code import script_uris, upload_step_scripts
from promotion.config import StageConfig
from utils import new_session

if TYPE_CHECKING:
    from sagemaker.mlops.workflow.pipeline import Pipeline

__all__ = [
    "check_definition_inputs",
    "get_pipeline",
    "mermaid_diagram",
    "pipeline_name_for",
    "render_definition",
    "script_uris",
    "upload_step_scripts",
]

# SageMaker's PipelineName pattern.
_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
# Loggers of the SDK that chat while a definition is built (job names popped, config paths).
# botocore too: while the SDK's INFO root handler is installed, the clients it builds log
# "Found endpoint ..." / "Found credentials ..." at INFO to the caller's terminal.
_SDK_LOGGERS = ("sagemaker", "sagemaker.config", "sagemaker.core", "sagemaker.mlops", "botocore")
# Credentials of the rendering session: rendering must never call AWS; if the SDK ever tried,
# the call would fail instead of acting with the caller's real credentials.
_INERT_KEY_ID, _INERT_SECRET = "rendering-only", "unused"


def pipeline_name_for(config: StageConfig) -> str:
    """The stable pipeline name of a stage: ``<model package group>-<stage>-batch-inference``."""
    name = f"{config.model_package_group_name}-{config.stage}-batch-inference"
    if not _PIPELINE_NAME.match(name):
        raise ConfigError(f"{config.path}: pipeline name {name!r} is not a valid SageMaker name")
    return name


def check_definition_inputs(
    config: StageConfig,
    pipeline_name: str,
    model_package_version: int,
    columns: Sequence[str],
    *,
    with_baseline: bool,
) -> None:
    """What `render_definition` refuses, checked without the SDK: build.py calls it before it
    writes anything to the stage. ``with_baseline``: the package has a data-quality baseline.

    Raises:
        ConfigError: a name, the feature columns or the batch settings are unusable.
    """
    if not _PIPELINE_NAME.match(pipeline_name):
        raise ConfigError(f"pipeline name {pipeline_name!r} is not a valid SageMaker name")
    if isinstance(model_package_version, bool) or model_package_version < 1:
        raise ConfigError(f"model package version must be positive, got {model_package_version!r}")
    if not columns:
        raise ConfigError(
            "no feature columns: set feature_columns in the stage config or the package"
        )
    bad = [c for c in columns if not c or "," in c or "\n" in c or len(c) > 128]
    if bad or len(set(columns)) != len(columns):
        raise ConfigError("feature columns must be unique names of 1-128 characters without commas")
    product = config.max_concurrent_transforms * config.max_payload_mb
    if product > layout.MAX_CONCURRENCY_PAYLOAD_MB:
        raise ConfigError(
            f"{config.path}: max_concurrent_transforms x max_payload_mb is {product}; batch "
            f"transform allows at most {layout.MAX_CONCURRENCY_PAYLOAD_MB}"
        )
    if len(_preprocess_arguments(config, pipeline_name, columns, with_baseline)) > (
        layout.MAX_ARGUMENTS
    ):
        raise ConfigError(f"{len(columns)} feature columns do not fit in the step's arguments")


def _preprocess_arguments(
    config: StageConfig, pipeline_name: str, columns: Sequence[str], with_baseline: bool
) -> list[str]:
    arguments = layout.preprocess_arguments(
        feature_columns=list(columns),
        id_column=config.id_column,
        id_policy=config.id_policy,
        max_shard_bytes=layout.max_shard_bytes(config.max_payload_mb),
    )
    if with_baseline and config.data_quality != "off":
        arguments += quality_arguments(
            policy=config.data_quality,
            drift_threshold=config.drift_threshold,
            pipeline_name=pipeline_name,
            region=config.region,
        )
    return arguments


@contextlib.contextmanager
def _quiet_sdk() -> Iterator[None]:
    """Silence the SDK's warnings and INFO chatter while it builds a definition.

    One SDK module calls `logging.basicConfig(level=INFO)` when imported: the root logger's level
    and handlers are put back afterwards, so the caller's logging stays as it was.
    """
    loggers = [logging.getLogger(name) for name in _SDK_LOGGERS]
    levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
            root.setLevel(root_level)
            root.handlers[:] = root_handlers


_VALIDATED_SDK_CONFIGS: set[str] = set()  # the SDK's schema is fixed: valid once, valid again


@contextlib.contextmanager
def _validate_config_once() -> Iterator[None]:
    """Validate each distinct SDK config against its JSON schema once per process.

    The SDK re-validates the same explicit ``sagemaker_config`` on every lookup (about 40 per
    render: most of a render's time). The validation itself is unchanged, only not repeated.
    """
    from sagemaker.core.config.config_manager import SageMakerConfig

    original = SageMakerConfig.__dict__.get("validate_sagemaker_config")
    if not isinstance(original, staticmethod):  # another SDK layout: leave it alone
        yield
        return
    validated = _VALIDATED_SDK_CONFIGS

    def validate(sagemaker_config: dict[str, object] | None = None) -> None:
        key = json.dumps(sagemaker_config, sort_keys=True, default=repr)
        if key not in validated:
            original.__func__(sagemaker_config)
            validated.add(key)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate)
    try:
        yield
    finally:
        SageMakerConfig.validate_sagemaker_config = original


def get_pipeline(
    *,
    config: StageConfig,
    pipeline_name: str,
    model_name: str,
    model_package_version: int,
    feature_columns: Sequence[str],
    boto_session: boto3.Session | None = None,
    baseline: Baseline | None = None,
) -> Pipeline:
    """The stage's pipeline as an SDK v3 `Pipeline`; no AWS call.

    Args:
        config: the stage; region, role, buckets, instances and batch settings.
        pipeline_name: usually `pipeline_name_for(config)`.
        model_name: the SageMaker model of the promoted package (default of ``ModelName``).
        model_package_version: the source package version, written next to each prediction.
        feature_columns: the model's features, in the order the model expects them.
        boto_session: the session the SDK objects hold; by default one of the stage's region
            with inert credentials, so that nothing can reach AWS.
        baseline: the promoted package's data-quality baseline (copied URIs); with it and
            ``data_quality`` not ``off``, Preprocess checks each batch against it.

    Raises:
        ConfigError: a name, the feature columns or the batch settings are unusable.
    """
    columns = list(feature_columns)
    check_definition_inputs(
        config, pipeline_name, model_package_version, columns, with_baseline=baseline is not None
    )
    # The SDK builds a boto3 client at import time: it needs a region before the import.
    os.environ.setdefault("AWS_DEFAULT_REGION", config.region)
    with _quiet_sdk(), _validate_config_once():
        from pipelines.definition.definition import build_pipeline

        session = boto_session or new_session(
            region_name=config.region,
            aws_access_key_id=_INERT_KEY_ID,
            aws_secret_access_key=_INERT_SECRET,
        )
        return build_pipeline(
            config=config,
            pipeline_name=pipeline_name,
            model_name=model_name,
            model_package_version=model_package_version,
            feature_columns=columns,
            code_uris=script_uris(config),
            boto_session=session,
            baseline=baseline,
        )


def render_definition(
    *,
    config: StageConfig,
    pipeline_name: str,
    model_name: str,
    model_package_version: int,
    feature_columns: Sequence[str],
    boto_session: boto3.Session | None = None,
    baseline: Baseline | None = None,
) -> str:
    """The pipeline definition JSON: byte-identical for the same inputs; no AWS call.

    The SDK's JSON is parsed and dumped again with sorted keys, two-space indent and a final
    newline. Arguments are those of `get_pipeline`.
    """
    pipeline = get_pipeline(
        config=config,
        pipeline_name=pipeline_name,
        model_name=model_name,
        model_package_version=model_package_version,
        feature_columns=feature_columns,
        boto_session=boto_session,
        baseline=baseline,
    )
    with _quiet_sdk(), _validate_config_once():
        definition = json.loads(pipeline.definition())
    return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
