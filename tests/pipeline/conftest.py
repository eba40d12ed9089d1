"""Fixtures of the batch pipeline tests: a stage config and one rendered definition."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promotion.config import StageConfig, load_stage_config

FEATURES = tuple(f"feature_{index:02d}" for index in range(30))
MODEL_NAME = "breast-cancer-classifier-v7"
MODEL_PACKAGE_VERSION = 7

BASE_CONFIG: dict[str, Any] = {
    "stage": "pre-prod",
    "account_id": "222222222222",
    "region": "eu-west-1",
    "source_account_id": "111111111111",
    "model_package_group_name": "breast-cancer-classifier",
    "artifacts_bucket": "batch-artifacts-222222222222",
    "sagemaker_execution_role_arn": "arn:aws:iam::222222222222:role/batch-execution",
    "input_data_url": "s3://batch-data-222222222222/input/",
    "output_data_url": "s3://batch-data-222222222222/predictions/",
    "id_column": "record_id",
    "max_payload_mb": 6,
    "max_concurrent_transforms": 4,
    "invocations_timeout_seconds": 900,
    "invocations_max_retries": 2,
}

ConfigFactory = Callable[..., StageConfig]


def write_config(directory: Path, **overrides: Any) -> Path:
    """A stage config file with ``overrides`` applied (a None value removes the key)."""
    raw = {**BASE_CONFIG, **overrides}
    raw = {key: value for key, value in raw.items() if value is not None}
    path = directory / f"{raw['stage']}-config.tfvars.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """Build a validated StageConfig from the base values and overrides."""

    def make(**overrides: Any) -> StageConfig:
        return load_stage_config(write_config(tmp_path, **overrides))

    return make


KMS_KEY = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="session")
def session_config(tmp_path_factory: pytest.TempPathFactory) -> StageConfig:
    """The base config with a KMS key, shared by the rendering fixtures (a render takes s)."""
    return load_stage_config(write_config(tmp_path_factory.mktemp("config"), kms_key_arn=KMS_KEY))


@pytest.fixture(scope="session")
def rendered(session_config: StageConfig) -> str:
    """The definition JSON of the base config, rendered once per test session."""
    from pipelines.definition.pipeline import pipeline_name_for, render_definition

    return render_definition(
        config=session_config,
        pipeline_name=pipeline_name_for(session_config),
        model_name=MODEL_NAME,
        model_package_version=MODEL_PACKAGE_VERSION,
        feature_columns=FEATURES,
    )


@pytest.fixture(scope="session")
def definition(rendered: str) -> dict[str, Any]:
    """The parsed definition."""
    parsed: dict[str, Any] = json.loads(rendered)
    return parsed
