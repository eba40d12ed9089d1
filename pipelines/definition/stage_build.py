"""build.py's step after promotion: upload the step scripts, render the stage's pipeline
definition, and collect what Terraform and the summary need."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from errors import ConfigError
from pipelines.definition.quality_inputs import package_baseline
from promotion.config import REPO_ROOT, StageConfig
from promotion.output import write_atomically
from promotion.package import model_identity, model_name_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FEATURE_COLUMNS_METADATA = "feature_columns"  # space-separated names, in the model's order


@dataclass(frozen=True)
class StageBuild:
    """The rendered pipeline and what it adds to the outputs."""

    model_name: str
    tfvars: dict[str, Any]
    summary_rows: list[tuple[str, str]] = field(default_factory=list)
    summary_extra: str = ""


def feature_columns_for(config: StageConfig, source_package: Mapping[str, Any]) -> tuple[str, ...]:
    """The model's features in order: the stage config's, else the package's metadata."""
    if config.feature_columns:
        return config.feature_columns
    recorded = (source_package.get("CustomerMetadataProperties") or {}).get(
        FEATURE_COLUMNS_METADATA, ""
    )
    # SageMaker's metadata values may not contain commas: names are separated by spaces there
    # (commas are accepted too, for registries filled by other tools).
    columns = tuple(re.split(r"[,\s]+", recorded.strip())) if recorded.strip() else ()
    if not columns:
        raise ConfigError(
            f"{config.path}: key 'feature_columns' is null and {source_package['ModelPackageArn']} "
            f"records no '{FEATURE_COLUMNS_METADATA}' metadata; set one of them"
        )
    return columns


def check_stage_inputs(
    config: StageConfig, source_package: Mapping[str, Any], feature_columns: tuple[str, ...]
) -> None:
    """Refuse what `render_stage` would refuse, before the promotion writes anything.

    Raises:
        ConfigError: a name, the feature columns or the batch settings are unusable.
    """
    import pipelines.definition.pipeline as pipeline

    pipeline.check_definition_inputs(
        config,
        pipeline.pipeline_name_for(config),
        int(source_package["ModelPackageVersion"]),
        feature_columns,
        with_baseline=package_baseline(source_package) is not None,
    )


def render_stage(
    config: StageConfig,
    *,
    target_s3: S3Client,
    source_package: Mapping[str, Any],
    feature_columns: tuple[str, ...],
    output_dir: Path,
    target_package: Mapping[str, Any],
) -> StageBuild:
    """Upload the step scripts, write `pipeline-definition.json`, and describe the result.

    The target package's data-quality baseline (its copied URIs), when it has one, is given
    to Preprocess (see pipelines/definition/quality_inputs.py).
    """
    # Imported here: build.py --resolve-only and --dry-run never need the SDK.
    import pipelines.definition.pipeline as pipeline

    version = int(source_package["ModelPackageVersion"])
    identity = model_identity(config, target_package["ModelPackageArn"])
    model_name = model_name_for(config.model_package_group_name, config.stage, version, identity)
    name = pipeline.pipeline_name_for(config)
    uploaded = pipeline.upload_step_scripts(target_s3, config=config)
    baseline = package_baseline(target_package)
    definition = pipeline.render_definition(
        config=config,
        pipeline_name=name,
        model_name=model_name,
        model_package_version=version,
        feature_columns=feature_columns,
        baseline=baseline,
    )
    definition_path = output_dir / "pipeline-definition.json"
    write_atomically(definition_path, definition)
    try:
        shown_path = definition_path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        shown_path = definition_path.resolve()
    diagram = pipeline.mermaid_diagram(json.loads(definition))
    return StageBuild(
        model_name=model_name,
        tfvars={"pipeline_name": name, "pipeline_definition_file": str(shown_path)},
        summary_rows=[
            ("Pipeline", f"{name} ({shown_path})"),
            ("Step scripts", f"{len(uploaded)} uploaded" if uploaded else "unchanged"),
            ("Data quality", _quality_row(config.data_quality, baseline is not None)),
        ],
        summary_extra=f"```mermaid\n{diagram.strip()}\n```",
    )


def _quality_row(policy: str, has_baseline: bool) -> str:
    if policy == "off":
        return "off (data_quality)"
    if not has_baseline:
        return "not checked: the package has no ModelDataQuality baseline"
    return f"{policy}: each batch is checked against the package's baseline in Preprocess"
